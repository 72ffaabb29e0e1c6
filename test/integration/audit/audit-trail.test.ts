import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { addMember, createUser } from '../../../src/db/directory.js';
import { pruneAuditLog } from '../../../src/operations/audit-trail.js';
import { assertMatchesContract, restClient } from '../../helpers/contract.js';
import { PASSWORD, startOAuthApp, userTokens } from '../../helpers/oauth.js';
import { serviceToken } from '../../helpers/tokens.js';
import type { TestApp } from '../../helpers/app.js';
import { runCli, singleJson } from '../cli/run-cli.js';

let app: TestApp & { issuer: string };
let adminToken: string;

before(async () => {
  app = await startOAuthApp();
  await createUser(app.database.db, 'alma@example.com', PASSWORD);
  await addMember(app.database.db, 'alma@example.com', { organization: 'acme', environment: 'production' }, 'admin');
  ({ accessToken: adminToken } = await userTokens(app, { email: 'alma@example.com', environment: 'acme/production' }));
});
after(async () => {
  await app?.close();
});

async function auditedCalls(token: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const response = await fetch(`${app.url}/api/v1/docs/concepts`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(response.status, 200);
  }
  await app.server.audit.flush();
}

describe('the audit log', () => {
  it('is readable over REST by an environment admin, newest first, page by page', async () => {
    await auditedCalls(adminToken, 3);
    const client = restClient(app.url, { authorization: `Bearer ${adminToken}` });
    const first = await client.GET('/api/v1/audit', { params: { query: { limit: 2 } } });
    assert.equal(first.data?.items.length, 2);
    assert.ok(first.data?.next_cursor);
    const [newest, older] = first.data.items;
    assert.ok(newest && older && newest.id > older.id);
    assert.equal(newest.operation, 'get_doc');
    assert.equal(newest.outcome, 'ok');
    assert.match(newest.actor, /^user:/);
    const second = await client.GET('/api/v1/audit', { params: { query: { limit: 2, cursor: first.data.next_cursor } } });
    assert.ok((second.data?.items[0]?.id ?? Infinity) < older.id);
  });

  it('is refused with 403 to a reader and to a service account, even with a read token', async () => {
    const { accessToken: readerToken } = await userTokens(app, { email: 'rita@example.com', environment: 'acme/production' });
    const service = await serviceToken(app, 'acme/production', ['read', 'write']);
    for (const token of [readerToken, service]) {
      const response = await fetch(`${app.url}/api/v1/audit`, { headers: { authorization: `Bearer ${token}` } });
      await assertMatchesContract('GET', '/api/v1/audit', response);
      assert.equal(response.status, 403);
      assert.equal(((await response.json()) as { code: string }).code, 'forbidden');
    }
  });

  it("never shows another environment's entries", async () => {
    const staging = await serviceToken(app, 'acme/staging', ['read']);
    await auditedCalls(staging, 1);
    const { data } = await restClient(app.url, { authorization: `Bearer ${adminToken}` }).GET('/api/v1/audit', {
      params: { query: { limit: 1000 } },
    });
    const stagingEnv = await app.database.db
      .selectFrom('environments')
      .select('id')
      .where('name', '=', 'staging')
      .executeTakeFirstOrThrow();
    const stagingRows = await app.database.db.selectFrom('audit_log').select('id').where('environment_id', '=', stagingEnv.id).execute();
    assert.ok(stagingRows.length > 0);
    const ids = new Set(data?.items.map((e) => e.id));
    assert.ok(stagingRows.every((r) => !ids.has(r.id)));
  });

  it('is listed by `admin audit <org>/<env> --json`, and a bad --since is a usage error that changes nothing', async () => {
    const env = { DATABASE_URL: app.database.url };
    const result = await runCli(['audit', 'acme/production', '--since', '1h', '--json'], env);
    assert.equal(result.code, 0, result.stderr);
    const { entries } = singleJson(result) as { entries: { operation: string }[] };
    assert.ok(entries.some((e) => e.operation === 'get_doc'));
    const bad = await runCli(['audit', 'acme/production', '--since', 'yesterday-ish'], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /neither an ISO-8601 time nor a duration/);
  });

  it('prunes entries older than the retention period and keeps the rest', async () => {
    const { db } = app.database;
    await sql`INSERT INTO audit_log (actor, operation, outcome, duration_ms, at) VALUES ('user:old', 'get_doc', 'ok', 1, now() - interval '91 days')`.execute(
      db,
    );
    const before = await db
      .selectFrom('audit_log')
      .select(sql<number>`count(*)::int`.as('n'))
      .executeTakeFirstOrThrow();
    assert.equal(await pruneAuditLog(db, 90), 1);
    const afterPrune = await db
      .selectFrom('audit_log')
      .select(sql<number>`count(*)::int`.as('n'))
      .executeTakeFirstOrThrow();
    assert.equal(afterPrune.n, before.n - 1);
  });
});
