import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createServiceAccount } from '../../../src/oauth/admin.js';
import { runCli, singleJson } from '../cli/run-cli.js';
import { eventually, mcpCall, postForm, startOAuthApp, TEST_SECRET_KEY, userTokens } from '../../helpers/oauth.js';

// The OAuth commands of the admin CLI, run as `npm run admin` would, against a running server's database.

let app: Awaited<ReturnType<typeof startOAuthApp>>;
const admin = (...args: string[]) => runCli(args, { DATABASE_URL: app.database.url, SECRET_KEY: TEST_SECRET_KEY });
before(async () => {
  app = await startOAuthApp();
});
after(async () => {
  await app?.close();
});

const works = async (token: string) => {
  const response = await mcpCall(app.url, token, 'tools/list');
  await response.body?.cancel();
  return response.status === 200;
};

const clientCredentials = (clientId: string, secret: string) =>
  postForm(`${app.issuer}/oauth/token`, { grant_type: 'client_credentials' }, '/oauth/token', {
    authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
  });

describe('admin service-account', () => {
  it('create prints the client_id and a URL-safe secret once; list never shows the secret; revoke stops its tokens', async () => {
    const created = await admin(
      'service-account',
      'create',
      'acme/production',
      '--name',
      'nightly-report',
      '--scopes',
      'read,write',
      '--json',
    );
    assert.equal(created.code, 0, created.stderr);
    const { service_account: account } = singleJson(created) as {
      service_account: { client_id: string; client_secret: string; scopes: string[] };
    };
    assert.match(account.client_secret, /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(account.scopes, ['read', 'write']);

    const issued = await clientCredentials(account.client_id, account.client_secret);
    assert.equal(issued.status, 200);
    assert.equal(issued.body.scope, 'read write');
    assert.ok(await works(issued.body.access_token as string));

    const listed = await admin('service-account', 'list', 'acme/production', '--json');
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(!listed.stdout.includes(account.client_secret));
    const { service_accounts: accounts } = singleJson(listed) as { service_accounts: { client_id: string; revoked_at: string | null }[] };
    assert.deepEqual(
      accounts.map((a) => [a.client_id, a.revoked_at]),
      [[account.client_id, null]],
    );

    const revoked = await admin('service-account', 'revoke', account.client_id);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /revoked service account "nightly-report"/);
    await eventually(async () => !(await works(issued.body.access_token as string)), 5_000);
    const refused = await clientCredentials(account.client_id, account.client_secret);
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error, 'invalid_client');
  });

  it('refuses bad scopes, unknown environments and unknown accounts with one error line', async () => {
    const results = await Promise.all(
      [
        ['service-account', 'create', 'acme/production', '--name', 'x', '--scopes', 'admin'],
        ['service-account', 'create', 'acme/nowhere', '--name', 'x', '--scopes', 'read'],
        ['service-account', 'revoke', crypto.randomUUID()],
      ].map((args) => admin(...args)),
    );
    for (const result of results) {
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr.trim(), /^error: [^\n]+$/);
    }
  });
});

describe('admin member remove', () => {
  it("removes the membership and revokes the member's grants in that environment", async () => {
    const tokens = await userTokens(app, { email: 'rita@example.com' });
    assert.ok(await works(tokens.accessToken));
    const result = await admin('member', 'remove', 'rita@example.com', 'acme/production', '--json');
    assert.equal(result.code, 0, result.stderr);
    const { membership } = singleJson(result) as { membership: { revoked_grants: number } };
    assert.equal(membership.revoked_grants, 1);
    await eventually(async () => !(await works(tokens.accessToken)), 5_000);
    const refresh = await postForm(`${app.issuer}/oauth/token`, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refreshToken,
      client_id: tokens.clientId,
    });
    assert.equal(refresh.body.error, 'invalid_grant');
    const again = await admin('member', 'remove', 'rita@example.com', 'acme/production');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /not a member/);
  });
});

describe('admin app', () => {
  it('list shows who authorized which app, with scopes and dates; revoke stops its tokens; --help lists both', async () => {
    const tokens = await userTokens(app, { email: 'ada@example.com', environment: 'acme/staging' });
    assert.ok(await works(tokens.accessToken));
    const listed = await admin('app', 'list', 'acme/staging', '--json');
    assert.equal(listed.code, 0, listed.stderr);
    const { apps } = singleJson(listed) as {
      apps: { client_id: string; name: string; user: string; scopes: string[]; redirect_hosts: string[]; last_used_at: string }[];
    };
    const row = apps.find((a) => a.client_id === tokens.clientId);
    assert.ok(row, listed.stdout);
    assert.equal(row.user, 'ada@example.com');
    assert.deepEqual(row.scopes, ['read']);
    assert.deepEqual(row.redirect_hosts, ['127.0.0.1:9']);
    assert.ok(Date.now() - Date.parse(row.last_used_at) < 60_000);

    const text = await admin('app', 'list', 'acme/staging');
    assert.match(text.stdout, new RegExp(`${tokens.clientId}  Test Client  ada@example.com  read`));

    const revoked = await admin('app', 'revoke', tokens.clientId, 'acme/staging');
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /revoked "Test Client" .* in acme\/staging: 1 authorization/);
    await eventually(async () => !(await works(tokens.accessToken)), 5_000);
    const after = singleJson(await admin('app', 'list', 'acme/staging', '--json')) as { apps: { client_id: string }[] };
    assert.ok(!after.apps.some((a) => a.client_id === tokens.clientId));
    const again = await admin('app', 'revoke', tokens.clientId);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /had no live authorization; nothing to revoke/);

    const help = await admin('--help');
    assert.match(help.stdout, /admin app list <org>\/<env>/);
    assert.match(help.stdout, /admin app revoke <client_id> \[<org>\/<env>\]/);
  });

  it('refuses unknown clients, service accounts, unknown environments and extra arguments with one error line', async () => {
    const account = await createServiceAccount(app.database.db, { organization: 'acme', environment: 'staging' }, 'cli-bot', ['read']);
    const cases: Array<[string[], number, RegExp]> = [
      [['app', 'revoke', 'no-such-client'], 1, /no client has the client_id no-such-client/],
      [['app', 'revoke', account.client_id], 1, /is a service account: revoke it with `admin service-account revoke/],
      [['app', 'list', 'acme/nowhere'], 1, /unknown environment acme\/nowhere/],
      [['app', 'revoke', 'a', 'acme/staging', 'extra'], 2, /expected <client_id> <org\/env>, got 3/],
      [['app', 'list'], 2, /expected <org\/env>, got 0/],
    ];
    for (const [args, code, message] of cases) {
      const result = await admin(...args);
      assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr.trim(), /^error: [^\n]+$/);
      assert.match(result.stderr, message);
    }
  });
});

describe('admin keys rotate', () => {
  it('adds a key and retires the old one, which stays published; tokens it signed keep working', async () => {
    const tokens = await userTokens(app);
    const result = await admin('keys', 'rotate', '--json');
    assert.equal(result.code, 0, result.stderr);
    const { key, retired } = singleJson(result) as { key: { kid: string }; retired: string[] };
    assert.equal(retired.length, 1);
    const rows = await app.database.db.selectFrom('oauth_signing_keys').select(['kid', 'retired_at']).execute();
    assert.deepEqual(
      rows.filter((r) => r.retired_at === null).map((r) => r.kid),
      [key.kid],
    );
    assert.ok(await works(tokens.accessToken));
  });

  it('refuses to rotate with another SECRET_KEY, changing nothing', async () => {
    const before = await app.database.db.selectFrom('oauth_signing_keys').select('kid').execute();
    const result = await runCli(['keys', 'rotate'], {
      DATABASE_URL: app.database.url,
      SECRET_KEY: crypto.randomBytes(32).toString('base64'),
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /SECRET_KEY does not decrypt the signing keys/);
    assert.equal((await app.database.db.selectFrom('oauth_signing_keys').select('kid').execute()).length, before.length);
  });
});
