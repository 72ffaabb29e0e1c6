import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { startServer, type RunningServer } from '../../../src/server.js';
import { createServiceAccount } from '../../../src/oauth/admin.js';
import {
  authorizationUrl,
  eventually,
  mcpCall,
  pkce,
  postForm,
  registerPublicClient,
  startOAuthApp,
  TEST_SECRET_KEY,
  userTokens,
  walkSignInPages,
} from '../../helpers/oauth.js';
import { testLakehouseEnv } from '../../helpers/db.js';

// /oauth/token, /oauth/revoke and /oauth/introspect: one rule per test.

const REDIRECT = 'http://127.0.0.1:9/callback';
let app: Awaited<ReturnType<typeof startOAuthApp>>;
let token: string;
before(async () => {
  app = await startOAuthApp();
  token = `${app.issuer}/oauth/token`;
});
after(async () => {
  await app?.close();
});

/** A fresh client and a code for it (not yet exchanged). */
async function freshCode(walk: Parameters<typeof walkSignInPages>[1] = {}) {
  const { client_id } = await registerPublicClient(app.issuer, REDIRECT);
  const { verifier, challenge } = pkce();
  const back = await walkSignInPages(
    authorizationUrl(app.issuer, {
      response_type: 'code',
      client_id,
      redirect_uri: REDIRECT,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }),
    walk,
  );
  const code = back.searchParams.get('code') ?? '';
  const exchange = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, client_id };
  return { clientId: client_id, verifier, code, exchange };
}

const sha256 = (value: string) => createHash('sha256').update(value).digest();

async function works(accessToken: string, base = app.url): Promise<boolean> {
  const response = await mcpCall(base, accessToken, 'tools/list');
  await response.body?.cancel();
  return response.status === 200;
}

describe('authorization_code', () => {
  it('answers tokens with Cache-Control: no-store', async () => {
    const { exchange } = await freshCode();
    const { status, body, response } = await postForm(token, exchange);
    assert.equal(status, 200);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    assert.equal(body.token_type, 'Bearer');
    assert.ok((body.expires_in as number) <= 900);
  });

  it('a wrong code_verifier is refused with invalid_grant and burns the code: the right one is refused after it', async () => {
    const { exchange } = await freshCode();
    const { status, body } = await postForm(token, { ...exchange, code_verifier: pkce().verifier });
    assert.equal(status, 400);
    assert.equal(body.error, 'invalid_grant');
    // Whoever holds a stolen code gets one guess at the verifier: the code is void after it.
    const rightful = await postForm(token, exchange);
    assert.equal(rightful.status, 400);
    assert.equal(rightful.body.error, 'invalid_grant');
    const grants = await app.database.db
      .selectFrom('oauth_authorization_codes')
      .select(['consumed_at', 'grant_id'])
      .where('code_hash', '=', sha256(exchange.code))
      .executeTakeFirstOrThrow();
    assert.ok(grants.consumed_at);
    assert.equal(grants.grant_id, null, 'nothing was issued from it');
  });

  it('refuses a missing code_verifier with invalid_request', async () => {
    const { exchange } = await freshCode();
    const { code_verifier: _v, ...withoutVerifier } = exchange;
    const { status, body } = await postForm(token, withoutVerifier);
    assert.equal(status, 400);
    assert.equal(body.error, 'invalid_request');
  });

  it('a verifier without a challenge gets nothing: the authorization request without one is refused', async () => {
    const { client_id } = await registerPublicClient(app.issuer, REDIRECT);
    const response = await fetch(authorizationUrl(app.issuer, { response_type: 'code', client_id, redirect_uri: REDIRECT }), {
      redirect: 'manual',
    });
    assert.equal(response.status, 302);
    const location = new URL(response.headers.get('location') ?? '');
    assert.equal(location.searchParams.get('error'), 'invalid_request');
    assert.equal(location.searchParams.get('code'), null);
  });

  it('refuses a replayed code and revokes the tokens issued from it', async () => {
    const { exchange } = await freshCode();
    const first = await postForm(token, exchange);
    assert.equal(first.status, 200);
    const access = first.body.access_token as string;
    assert.ok(await works(access));
    const replay = await postForm(token, exchange);
    assert.equal(replay.status, 400);
    assert.equal(replay.body.error, 'invalid_grant');
    assert.equal(await works(access), false, 'the access token of the first redemption is revoked');
    const refresh = await postForm(token, {
      grant_type: 'refresh_token',
      refresh_token: first.body.refresh_token as string,
      client_id: exchange.client_id,
    });
    assert.equal(refresh.body.error, 'invalid_grant');
  });

  it('refuses an expired code', async () => {
    const { exchange } = await freshCode();
    await sql`UPDATE oauth_authorization_codes SET expires_at = now() - interval '1 second'`.execute(app.database.db);
    const { status, body } = await postForm(token, exchange);
    assert.equal(status, 400);
    assert.equal(body.error, 'invalid_grant');
    assert.match(String(body.error_description), /expired/);
  });

  it('codes live at most 10 minutes (a database constraint)', async () => {
    await assert.rejects(
      sql`UPDATE oauth_authorization_codes SET expires_at = created_at + interval '11 minutes'`.execute(app.database.db),
      /check constraint/,
    );
  });

  it('two concurrent redemptions of one code: exactly one succeeds', async () => {
    const { exchange } = await freshCode();
    const results = await Promise.all([postForm(token, exchange), postForm(token, exchange), postForm(token, exchange)]);
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 400, 400]);
  });

  it('binds the code to its client and redirect URI', async () => {
    const { exchange } = await freshCode();
    const other = await registerPublicClient(app.issuer, REDIRECT);
    assert.equal((await postForm(token, { ...exchange, client_id: other.client_id })).body.error, 'invalid_grant');
    assert.equal((await postForm(token, { ...exchange, redirect_uri: `${REDIRECT}/` })).body.error, 'invalid_grant');
  });

  it('refuses a resource other than the MCP resource with invalid_target', async () => {
    const { exchange } = await freshCode();
    const { body } = await postForm(token, { ...exchange, resource: 'https://elsewhere.example/v1' });
    assert.equal(body.error, 'invalid_target');
  });

  it('refuses a repeated parameter with invalid_request (RFC 6749 §3.1)', async () => {
    const { exchange } = await freshCode();
    const { status, body } = await postForm(token, `${new URLSearchParams(exchange).toString()}&code=again`);
    assert.equal(status, 400);
    assert.equal(body.error, 'invalid_request');
    assert.match(String(body.error_description), /repeated/);
  });

  it('refuses another content type with 415 and an unknown grant type with unsupported_grant_type', async () => {
    const response = await fetch(token, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"grant_type":"client_credentials"}',
    });
    assert.equal(response.status, 415);
    assert.equal(((await response.json()) as { error: string }).error, 'invalid_request');
    assert.equal((await postForm(token, { grant_type: 'password', username: 'a', password: 'b' })).body.error, 'unsupported_grant_type');
  });
});

describe('refresh_token', () => {
  it('rotates the refresh token on every use', async () => {
    const user = await userTokens(app);
    const next = await postForm(token, { grant_type: 'refresh_token', refresh_token: user.refreshToken, client_id: user.clientId });
    assert.equal(next.status, 200);
    assert.notEqual(next.body.refresh_token, user.refreshToken);
    assert.equal(next.body.scope, 'read write');
  });

  it('a reused refresh token revokes the whole grant', async () => {
    const user = await userTokens(app);
    const next = await postForm(token, { grant_type: 'refresh_token', refresh_token: user.refreshToken, client_id: user.clientId });
    const reuse = await postForm(token, { grant_type: 'refresh_token', refresh_token: user.refreshToken, client_id: user.clientId });
    assert.equal(reuse.status, 400);
    assert.equal(reuse.body.error, 'invalid_grant');
    const after = await postForm(token, {
      grant_type: 'refresh_token',
      refresh_token: next.body.refresh_token as string,
      client_id: user.clientId,
    });
    assert.equal(after.body.error, 'invalid_grant', 'the newest refresh token died with the grant');
    assert.equal(await works(next.body.access_token as string), false);
    assert.equal(await works(user.accessToken), false);
  });

  it('can narrow the scope but never widen it', async () => {
    const readOnly = await userTokens(app, { readOnly: true });
    const widened = await postForm(token, {
      grant_type: 'refresh_token',
      refresh_token: readOnly.refreshToken,
      client_id: readOnly.clientId,
      scope: 'read write',
    });
    assert.equal(widened.status, 400);
    assert.equal(widened.body.error, 'invalid_scope');
    const full = await userTokens(app);
    const narrowed = await postForm(token, {
      grant_type: 'refresh_token',
      refresh_token: full.refreshToken,
      client_id: full.clientId,
      scope: 'read',
    });
    assert.equal(narrowed.body.scope, 'read');
  });

  it("follows the user's current role (a demoted writer refreshes to read)", async () => {
    const user = await userTokens(app, { email: 'rita@example.com' });
    assert.equal(user.scope, 'read');
    const again = await postForm(token, { grant_type: 'refresh_token', refresh_token: user.refreshToken, client_id: user.clientId });
    assert.equal(again.body.scope, 'read');
  });

  it('concurrent uses of one refresh token: exactly one rotates it, the others revoke the grant', async () => {
    const user = await userTokens(app);
    const refresh = { grant_type: 'refresh_token', refresh_token: user.refreshToken, client_id: user.clientId };
    const answers = await Promise.all(Array.from({ length: 4 }, () => postForm(token, refresh)));
    const rotated = answers.filter((a) => a.status === 200);
    assert.equal(rotated.length, 1, JSON.stringify(answers.map((a) => a.body)));
    for (const refused of answers.filter((a) => a.status !== 200)) assert.equal(refused.body.error, 'invalid_grant');
    const successor = await postForm(token, { ...refresh, refresh_token: rotated[0]?.body.refresh_token as string });
    assert.equal(successor.body.error, 'invalid_grant', 'the reuse revoked the grant, the successor with it');
    const grant = await app.database.db
      .selectFrom('oauth_refresh_tokens as r')
      .innerJoin('oauth_grants as g', 'g.id', 'r.grant_id')
      .select(['g.revoked_at', 'g.revoked_reason'])
      .where('r.token_hash', '=', sha256(user.refreshToken))
      .executeTakeFirstOrThrow();
    assert.ok(grant.revoked_at);
    assert.equal(grant.revoked_reason, 'refresh token reused');
  });

  it('a client deleted or barred from refresh tokens stops refreshing at its next request, on a cached client record too', async () => {
    const { db } = app.database;
    const user = await userTokens(app);
    const refresh = (refreshToken: string) =>
      postForm(token, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: user.clientId });
    // A first refresh: the server now holds the client's record in its cache.
    const first = await refresh(user.refreshToken);
    assert.equal(first.status, 200);
    const current = first.body.refresh_token as string;

    await db
      .updateTable('oauth_clients')
      .set({ grant_types: ['authorization_code'] })
      .where('id', '=', user.clientId)
      .execute();
    const barred = await refresh(current);
    assert.equal(barred.status, 400);
    assert.equal(barred.body.error, 'unauthorized_client');
    const untouched = await db
      .selectFrom('oauth_refresh_tokens')
      .select('used_at')
      .where('token_hash', '=', sha256(current))
      .executeTakeFirstOrThrow();
    assert.equal(untouched.used_at, null, 'the refused request did not use the refresh token');

    await db
      .updateTable('oauth_clients')
      .set({ grant_types: ['authorization_code', 'refresh_token'] })
      .where('id', '=', user.clientId)
      .execute();
    const again = await refresh(current);
    assert.equal(again.status, 200, 'allowed again, it refreshes again');

    await db.deleteFrom('oauth_clients').where('id', '=', user.clientId).execute();
    const gone = await refresh(again.body.refresh_token as string);
    assert.equal(gone.status, 401);
    assert.equal(gone.body.error, 'invalid_client');
    assert.match(String(gone.body.error_description), /Unknown client/);
  });

  it('refuses a refresh token of another client', async () => {
    const user = await userTokens(app);
    const other = await registerPublicClient(app.issuer, REDIRECT);
    const { body } = await postForm(token, { grant_type: 'refresh_token', refresh_token: user.refreshToken, client_id: other.client_id });
    assert.equal(body.error, 'invalid_grant');
  });
});

describe('client_credentials', () => {
  it('issues tokens to a service account for its own environment and scopes', async () => {
    const account = await createServiceAccount(app.database.db, { organization: 'acme', environment: 'staging' }, 'ci-bot', ['read']);
    const basic = `Basic ${Buffer.from(`${account.client_id}:${account.client_secret}`).toString('base64')}`;
    const { status, body } = await postForm(token, { grant_type: 'client_credentials' }, '/oauth/token', { authorization: basic });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.scope, 'read');
    assert.equal(body.refresh_token, undefined);
    const response = await mcpCall(app.url, body.access_token as string, 'tools/call', { name: 'get_session_context', arguments: {} });
    const result = (await response.json()) as { result: { structuredContent: Record<string, unknown> } };
    assert.match(JSON.stringify(result.result.structuredContent), /staging/);
    // The request never widens what the account has.
    const wider = await postForm(token, { grant_type: 'client_credentials', scope: 'read write' }, '/oauth/token', {
      authorization: basic,
    });
    assert.equal(wider.body.error, 'invalid_scope');
    // client_secret_post works too; a wrong secret does not.
    assert.equal(
      (await postForm(token, { grant_type: 'client_credentials', client_id: account.client_id, client_secret: account.client_secret }))
        .status,
      200,
    );
    const wrong = await postForm(token, { grant_type: 'client_credentials', client_id: account.client_id, client_secret: 'nope' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error, 'invalid_client');
  });

  it('is refused to a public client', async () => {
    const { client_id } = await registerPublicClient(app.issuer, REDIRECT);
    const { status, body } = await postForm(token, { grant_type: 'client_credentials', client_id });
    assert.equal(status, 400);
    assert.equal(body.error, 'unauthorized_client');
  });

  it('is refused to a confidential client that is not a service account', async () => {
    const { client_id, client_secret } = await registerPublicClient(app.issuer, REDIRECT, {
      token_endpoint_auth_method: 'client_secret_post',
    });
    const { body } = await postForm(token, { grant_type: 'client_credentials', client_id, client_secret: client_secret ?? '' });
    assert.equal(body.error, 'unauthorized_client');
  });
});

describe('revocation and introspection', () => {
  /** A second process of the same deployment (same database, SECRET_KEY and PUBLIC_URL, as behind a load balancer). */
  const secondProcess = (): Promise<RunningServer> =>
    startServer({
      ...testLakehouseEnv(),
      PATH: process.env.PATH,
      PORT: '0',
      LOG_LEVEL: 'silent',
      DATABASE_URL: app.database.url,
      SECRET_KEY: TEST_SECRET_KEY,
      PUBLIC_URL: app.url,
    });

  it('revoking a refresh token stops its access tokens within 5 seconds on every server process', async () => {
    const second = await secondProcess();
    try {
      const user = await userTokens(app);
      const verifyOnSecond = () =>
        second.oauth.verifier.verify(user.accessToken).then(
          () => true,
          () => false,
        );
      assert.equal(await verifyOnSecond(), true, 'the other process accepts (and caches) the token');
      const { status } = await postForm(
        `${app.issuer}/oauth/revoke`,
        { token: user.refreshToken, client_id: user.clientId },
        '/oauth/revoke',
      );
      assert.equal(status, 200);
      const took = await eventually(async () => !(await verifyOnSecond()), 5_000, 50);
      assert.ok(took < 5_000, `took ${took} ms`);
    } finally {
      await second.close();
    }
  });

  it("revoking a service account's access token stops it within 5 seconds on every server process; the account's other tokens keep working", async () => {
    const second = await secondProcess();
    try {
      const account = await createServiceAccount(app.database.db, { organization: 'acme', environment: 'staging' }, 'revoking-bot', [
        'read',
      ]);
      const basic = { authorization: `Basic ${Buffer.from(`${account.client_id}:${account.client_secret}`).toString('base64')}` };
      const issue = async () =>
        (await postForm(token, { grant_type: 'client_credentials' }, '/oauth/token', basic)).body.access_token as string;
      const [revoked, kept] = [await issue(), await issue()];
      const verifyOnSecond = (t: string) =>
        second.oauth.verifier.verify(t).then(
          () => true,
          () => false,
        );
      assert.equal(await verifyOnSecond(revoked), true, 'the other process accepts (and caches) the token');
      assert.equal(await verifyOnSecond(kept), true);
      const { status } = await postForm(
        `${app.issuer}/oauth/revoke`,
        { token: revoked, token_type_hint: 'access_token' },
        '/oauth/revoke',
        basic,
      );
      assert.equal(status, 200);
      assert.equal(await works(revoked), false, 'refused at once by the process that revoked it');
      const took = await eventually(async () => !(await verifyOnSecond(revoked)), 5_000, 50);
      assert.ok(took < 5_000, `took ${took} ms`);
      // Only that token: the account's other token and new ones work (`admin service-account revoke` stops the account).
      assert.equal(await verifyOnSecond(kept), true);
      assert.ok(await works(kept));
      assert.ok(await works(await issue()));
      const introspected = await postForm(`${app.issuer}/oauth/introspect`, { token: revoked }, '/oauth/introspect', basic);
      assert.deepEqual(introspected.body, { active: false });
    } finally {
      await second.close();
    }
  });

  it("revoking a user's access token stops it within 5 seconds on every server process", async () => {
    const second = await secondProcess();
    try {
      const user = await userTokens(app);
      const verifyOnSecond = () =>
        second.oauth.verifier.verify(user.accessToken).then(
          () => true,
          () => false,
        );
      assert.equal(await verifyOnSecond(), true);
      const { status } = await postForm(
        `${app.issuer}/oauth/revoke`,
        { token: user.accessToken, client_id: user.clientId },
        '/oauth/revoke',
      );
      assert.equal(status, 200);
      assert.equal(await works(user.accessToken), false);
      const took = await eventually(async () => !(await verifyOnSecond()), 5_000, 50);
      assert.ok(took < 5_000, `took ${took} ms`);
    } finally {
      await second.close();
    }
  });

  it('revoking a refresh token revokes the grant: its access tokens stop within 5 seconds', async () => {
    const user = await userTokens(app);
    assert.ok(await works(user.accessToken));
    const { status } = await postForm(
      `${app.issuer}/oauth/revoke`,
      { token: user.refreshToken, client_id: user.clientId },
      '/oauth/revoke',
    );
    assert.equal(status, 200);
    const took = await eventually(async () => !(await works(user.accessToken)), 5_000);
    assert.ok(took < 5_000);
    assert.equal(
      (await postForm(token, { grant_type: 'refresh_token', refresh_token: user.refreshToken, client_id: user.clientId })).body.error,
      'invalid_grant',
    );
  });

  it("answers 200 for an unknown token and does nothing for another client's token", async () => {
    const user = await userTokens(app);
    const other = await registerPublicClient(app.issuer, REDIRECT);
    assert.equal(
      (await postForm(`${app.issuer}/oauth/revoke`, { token: 'garbage', client_id: other.client_id }, '/oauth/revoke')).status,
      200,
    );
    assert.equal(
      (await postForm(`${app.issuer}/oauth/revoke`, { token: user.refreshToken, client_id: other.client_id }, '/oauth/revoke')).status,
      200,
    );
    assert.ok(await works(user.accessToken));
  });

  it('introspection is for authenticated clients, about their own tokens', async () => {
    const account = await createServiceAccount(app.database.db, { organization: 'acme', environment: 'production' }, 'introspector', [
      'read',
      'write',
    ]);
    const basic = `Basic ${Buffer.from(`${account.client_id}:${account.client_secret}`).toString('base64')}`;
    const issued = await postForm(token, { grant_type: 'client_credentials' }, '/oauth/token', { authorization: basic });
    const introspect = `${app.issuer}/oauth/introspect`;
    const own = await postForm(introspect, { token: issued.body.access_token as string }, '/oauth/introspect', { authorization: basic });
    assert.equal(own.body.active, true);
    assert.equal(own.body.scope, 'read write');
    assert.equal(own.body.sub, `service:${account.client_id}`);
    const user = await userTokens(app);
    const foreign = await postForm(introspect, { token: user.accessToken }, '/oauth/introspect', { authorization: basic });
    assert.deepEqual(foreign.body, { active: false });
    const publicClient = await postForm(introspect, { token: user.accessToken, client_id: user.clientId }, '/oauth/introspect');
    assert.equal(publicClient.status, 401);
    assert.equal(publicClient.body.error, 'invalid_client');
  });
});
