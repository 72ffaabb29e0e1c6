import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decideDiscovery } from '../../../src/assets/discoveries.js';
import { addMember, createUser } from '../../../src/db/directory.js';
import type { Principal } from '../../../src/oauth/principal.js';
import { addWebhook } from '../../../src/webhooks/admin.js';
import { userTokens } from '../../helpers/oauth.js';
import { assertReaderRefused, call, callError, SECRET, startAssetHarness, type AssetHarness } from './harness.js';

let h: AssetHarness;
/** Real users of acme/production, signed in through server a's pages: their principals and access tokens. */
let admin: Principal;
let writer: Principal;
let adminToken: string;
let writerToken: string;
before(async () => {
  h = await startAssetHarness();
  await addWebhook(h.database.db, { secretKey: SECRET, allowPrivateNetwork: true }, h.env.a.id, 'http://127.0.0.1:9/hook');
  const asUser = async (email: string, role: 'admin' | 'writer'): Promise<[Principal, string]> => {
    const password = 'correct horse battery staple';
    await createUser(h.database.db, email, password);
    await addMember(h.database.db, email, { organization: 'acme', environment: 'production' }, role);
    const server = h.servers.a;
    const { accessToken } = await userTokens({ issuer: server.config.issuerUrl, url: server.url }, { email, password });
    return [await server.oauth.verifier.verify(accessToken), accessToken];
  };
  [admin, adminToken] = await asUser('admin@example.com', 'admin');
  [writer, writerToken] = await asUser('writer@example.com', 'writer');
});
after(() => h.close());

async function insightIn(environmentId: string): Promise<string> {
  const row = await h.database.db
    .insertInto('insights')
    .values({
      environment_id: environmentId,
      title: 'Signups',
      sql: 'SELECT 1',
      connection: 'sample',
      parameters: '[]',
      chart: { kind: 'table' },
      created_by: 'user:x',
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

describe('discoveries', () => {
  it('records a discovery with its evidence and, by default, a notification delivered to the webhooks', async () => {
    const insightId = await insightIn(h.env.a.id);
    const d = await call(h.clients.a, 'create_discovery', {
      title: 'Checkout errors doubled',
      summary: 'checkout_error events doubled on 2024-05-02 on mobile.',
      severity: 'critical',
      sql: "SELECT count(*) FROM events WHERE event = 'checkout_error'",
      insight_id: insightId,
    });
    assert.equal(d.status, 'pending');
    assert.equal(d.version, 1);
    assert.ok(d.notification_id);
    const outbox = await h.database.db
      .selectFrom('webhook_deliveries')
      .select(['payload'])
      .where('notification_id', '=', d.notification_id)
      .execute();
    assert.equal(outbox.length, 1);
    assert.match(outbox[0]!.payload, /Checkout errors doubled/);
    const viewed = await call(h.clients.reader, 'view_discovery', { id: d.id });
    assert.deepEqual(viewed.discovery, d);
    assert.equal(viewed.insight?.id, insightId);
    const quiet = await call(h.clients.a, 'create_discovery', {
      title: 'Quiet',
      summary: 'no notification',
      severity: 'info',
      notify: false,
    });
    assert.equal(quiet.notification_id, undefined);
  });

  it('lists newest first with status and severity filters and cursors', async () => {
    for (let i = 0; i < 3; i++)
      await call(h.clients.a, 'create_discovery', { title: `Finding ${i}`, summary: 's', severity: 'warning', notify: false });
    const all = await call(h.clients.a, 'list_discoveries', { limit: 2 });
    assert.equal(all.items.length, 2);
    assert.equal(all.items[0]?.title, 'Finding 2');
    const rest = await call(h.clients.a, 'list_discoveries', { limit: 100, cursor: all.next_cursor! });
    assert.equal(rest.next_cursor, undefined);
    assert.equal(all.items.length + rest.items.length, 5);
    assert.equal((await call(h.clients.a, 'list_discoveries', { severity: 'warning' })).items.length, 3);
    assert.equal((await call(h.clients.a, 'list_discoveries', { status: 'approved' })).items.length, 0);
  });

  it("answers not_found for another environment's discovery or insight, with no hint", async () => {
    const d = await call(h.clients.a, 'create_discovery', { title: 'Secret', summary: 's', severity: 'info', notify: false });
    const seen = await callError(h.clients.b, 'view_discovery', { id: d.id });
    const never = await callError(h.clients.b, 'view_discovery', { id: crypto.randomUUID() });
    assert.equal(seen.code, 'not_found');
    assert.equal(seen.message.replace(d.id, 'ID'), never.message.replace(/[0-9a-f-]{36}/, 'ID'));
    const foreignInsight = await insightIn(h.env.a.id);
    assert.equal(
      (await callError(h.clients.b, 'create_discovery', { title: 't', summary: 's', severity: 'info', insight_id: foreignInsight })).code,
      'not_found',
    );
    assert.equal((await call(h.clients.b, 'list_discoveries', {})).items.length, 0);
    // The schema refuses it too: a composite foreign key (environment_id, insight_id).
    await assert.rejects(
      h.database.db
        .insertInto('discoveries')
        .values({ environment_id: h.env.b.id, title: 't', summary: 's', severity: 'info', insight_id: foreignInsight, created_by: 'x' })
        .execute(),
      /foreign key/,
    );
  });

  it('refuses bad input and read-only tokens', async () => {
    assert.equal(
      (await callError(h.clients.a, 'create_discovery', { title: 't', summary: 's', severity: 'high' })).code,
      'validation_failed',
    );
    assert.equal(
      (await callError(h.clients.a, 'create_discovery', { title: 't', summary: '', severity: 'info' })).code,
      'validation_failed',
    );
    assert.equal(
      (await callError(h.clients.a, 'create_discovery', { title: 't', summary: 's', severity: 'info', insight_id: 'nope' })).code,
      'validation_failed',
    );
    assert.equal((await callError(h.clients.a, 'view_discovery', { id: 42 })).code, 'validation_failed');
    assert.equal((await callError(h.clients.a, 'list_discoveries', { status: 'open' })).code, 'validation_failed');
    await assertReaderRefused(h.servers.a, 'create_discovery', { title: 't', summary: 's', severity: 'info' });
  });

  it('is idempotent: a retry creates neither a second discovery nor a second notification', async () => {
    const input = { title: 'Once', summary: 's', severity: 'info' as const, idempotency_key: crypto.randomUUID() };
    const [one, two] = await Promise.all([call(h.clients.a, 'create_discovery', input), call(h.clients.a, 'create_discovery', input)]);
    assert.deepEqual(one, two);
    assert.equal((await h.database.db.selectFrom('discoveries').select('id').where('title', '=', 'Once').execute()).length, 1);
    assert.equal((await h.database.db.selectFrom('notifications').select('id').where('title', '=', 'Discovery: Once').execute()).length, 1);
    assert.equal((await callError(h.clients.a, 'create_discovery', { ...input, severity: 'warning' })).code, 'idempotency_conflict');
  });

  it('lets environment admins approve or reject (REST operation), with optimistic concurrency', async () => {
    const d = await call(h.clients.a, 'create_discovery', { title: 'Decide me', summary: 's', severity: 'info', notify: false });
    await assert.rejects(decideDiscovery(h.database.db, writer, { id: d.id, decision: 'approved' }), { code: 'forbidden', status: 403 });
    await assert.rejects(decideDiscovery(h.database.db, { ...admin, scopes: new Set(['read']) }, { id: d.id, decision: 'approved' }), {
      code: 'insufficient_scope',
    });
    const otherEnv = { ...admin, environmentId: h.env.b.id };
    await assert.rejects(decideDiscovery(h.database.db, otherEnv, { id: d.id, decision: 'approved' }), { code: 'forbidden' });
    // Two admins deciding from the same version: exactly one wins.
    const results = await Promise.allSettled([
      decideDiscovery(h.database.db, admin, { id: d.id, decision: 'approved', version: 1 }),
      decideDiscovery(h.database.db, admin, { id: d.id, decision: 'rejected', version: 1, note: 'dup' }),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const lost = results.find((r) => r.status === 'rejected');
    assert.equal(((lost as PromiseRejectedResult).reason as { code: string }).code, 'conflict');
    const viewed = await call(h.clients.a, 'view_discovery', { id: d.id });
    assert.equal(viewed.discovery.version, 2);
    assert.ok(viewed.discovery.decided_by === admin.subject && viewed.discovery.decided_at);
    await assert.rejects(decideDiscovery(h.database.db, admin, { id: d.id, decision: 'rejected', version: 1 }), /version 2/);
    const changed = await decideDiscovery(h.database.db, admin, {
      id: d.id,
      decision: 'rejected',
      version: 2,
      note: 'duplicate of another finding',
    });
    assert.equal(changed.status, 'rejected');
    assert.equal((await call(h.clients.a, 'list_discoveries', { status: 'rejected' })).items[0]?.id, d.id);
  });

  it('serves approve and reject under /api/v1/discoveries/{id}/… with bearer tokens', async () => {
    const d = await call(h.clients.a, 'create_discovery', { title: 'REST', summary: 's', severity: 'info', notify: false });
    const post = (action: string, token: string | undefined, body: string) =>
      fetch(`${h.servers.a.url}/api/v1/discoveries/${d.id}/${action}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body,
      });
    assert.equal((await post('approve', undefined, '{"version":1}')).status, 401);
    const reader = await post('approve', h.servers.a.tokens.read, '{"version":1}');
    assert.equal(reader.status, 403);
    assert.equal(((await reader.json()) as { code: string }).code, 'insufficient_scope');
    // A writer, and a read+write service account (never an admin), may not decide.
    for (const token of [writerToken, h.servers.a.tokens.readWrite]) {
      const notAdmin = await post('approve', token, '{"version":1}');
      assert.equal(notAdmin.status, 403);
      assert.equal(((await notAdmin.json()) as { code: string }).code, 'forbidden');
    }
    assert.equal((await post('reject', adminToken, '{"version":"one"}')).status, 400);
    const approved = await post('approve', adminToken, '{"version":1,"note":"confirmed"}');
    assert.equal(approved.status, 200);
    const body = (await approved.json()) as { status: string; version: number; decision_note: string };
    assert.deepEqual([body.status, body.version, body.decision_note], ['approved', 2, 'confirmed']);
    const stale = await post('reject', adminToken, '{"version":1}');
    assert.equal(stale.status, 409);
    assert.equal(((await stale.json()) as { code: string }).code, 'conflict');
  });
});
