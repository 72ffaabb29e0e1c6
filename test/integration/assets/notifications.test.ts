import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addWebhook, listWebhooks, removeWebhook, replayDead, WebhookAdminError } from '../../../src/webhooks/admin.js';
import { isNonPublicAddress, resolvePublic, UnsafeUrlError } from '../../../src/net/non-public-address.js';
import { checkWebhookUrl, safePost } from '../../../src/webhooks/safe-post.js';
import { retryDelayMs } from '../../../src/webhooks/settings.js';
import { sign } from '../../../src/webhooks/signature.js';
import { assertReaderRefused, call, callError, eventually, SECRET, startAssetHarness, type AssetHarness } from './harness.js';
import { startReceiver, type Receiver } from './receiver.js';

let h: AssetHarness;
let receiver: Receiver;
let webhookId: string;
before(async () => {
  h = await startAssetHarness();
  receiver = await startReceiver();
  const added = await addWebhook(h.database.db, { secretKey: SECRET, allowPrivateNetwork: true }, h.env.a.id, receiver.url);
  webhookId = added.id;
  receiver.setSecret(added.secret);
});
after(async () => {
  await receiver.close();
  await h.close();
});

const deliveries = (status?: string) => {
  let query = h.database.db.selectFrom('webhook_deliveries').selectAll().where('environment_id', '=', h.env.a.id);
  if (status) query = query.where('status', '=', status as 'pending');
  return query.execute();
};

describe('notifications and webhook delivery', () => {
  it('stores a notification with one outbox row per webhook, in the same transaction', async () => {
    const n = await call(h.clients.a, 'create_notification', {
      title: 'Signups dropped',
      body: 'Signups fell 40% since Monday.',
      severity: 'warning',
      link: 'https://example.com/d/1',
    });
    assert.deepEqual(n.deliveries, [{ webhook_id: webhookId, status: 'pending', attempts: 0 }]);
    const rows = await h.database.db.selectFrom('webhook_deliveries').selectAll().where('notification_id', '=', n.id).execute();
    assert.equal(rows.length, 1);
    assert.match(rows[0]!.id, /^msg_[0-9a-f]{32}$/);
    // Environment b has no webhook: its notifications have no deliveries; and it never sees a's.
    const nb = await call(h.clients.b, 'create_notification', { title: 'b', body: '', severity: 'info' });
    assert.deepEqual(nb.deliveries, []);
    const listed = await call(h.clients.b, 'list_notifications', {});
    assert.deepEqual(
      listed.items.map((i) => i.id),
      [nb.id],
    );
  });

  it('delivers with Standard Webhooks headers that a Standard Webhooks library verifies, and shows it delivered', async () => {
    const worker = h.worker();
    await eventually(async () => (await worker.runOnce()) === 0 && (await deliveries('pending')).length === 0, 10_000, 'delivery');
    await worker.stop();
    assert.ok(receiver.requests.length >= 1);
    assert.ok(
      receiver.requests.every((r) => r.verified),
      'every request verifies',
    );
    const payload = [...receiver.applied.values()][0] as { type: string; data: Record<string, unknown> };
    assert.equal(payload.type, 'notification.created');
    assert.equal(payload.data.title, 'Signups dropped');
    assert.equal(payload.data.environment, 'production');
    // A plain notification has no route of its own: the url lists the notifications.
    assert.equal(payload.data.url, `${h.servers.a.url}/api/v1/notifications`);
    assert.equal('discovery_id' in payload.data, false);
    const listed = await call(h.clients.reader, 'list_notifications', { limit: 5 });
    const delivered = listed.items.find((i) => i.title === 'Signups dropped');
    assert.equal(delivered?.deliveries[0]?.status, 'delivered');
    assert.equal(delivered?.deliveries[0]?.attempts, 1);
    assert.equal(delivered?.deliveries[0]?.last_status, 204);
  });

  it("announces a discovery with its id, its insight's id and a url that views them", async () => {
    const insight = await call(h.clients.a, 'create_insight', {
      title: 'Churn by plan',
      sql: 'SELECT 1 AS n',
      connection: 'sample',
      chart: { kind: 'table' },
    });
    const discovery = await call(h.clients.a, 'create_discovery', {
      title: 'Churn doubled on the free plan',
      summary: 'Free-plan churn went from 4% to 8% in a week.',
      severity: 'warning',
      insight_id: insight.id,
    });
    const worker = h.worker();
    const payload = await eventually(
      async () => {
        await worker.runOnce();
        return [...receiver.applied.values()].find((p) => (p as { data: { discovery_id?: string } }).data.discovery_id === discovery.id) as
          { data: Record<string, unknown> } | undefined;
      },
      10_000,
      'the discovery delivered',
    );
    await worker.stop();
    assert.equal(payload.data.id, discovery.notification_id);
    assert.equal(payload.data.insight_id, insight.id);
    assert.equal(payload.data.url, `${h.servers.a.url}/api/v1/discoveries/${discovery.id}`);
    const viewed = await fetch(String(payload.data.url), { headers: { authorization: `Bearer ${h.servers.a.tokens.read}` } });
    assert.equal(viewed.status, 200, await viewed.clone().text());
    const body = (await viewed.json()) as { discovery: { id: string }; insight?: { id: string } };
    assert.equal(body.discovery.id, discovery.id);
    assert.equal(body.insight?.id, insight.id);
  });

  it('signs exactly as the convention says: v1,base64(HMAC-SHA256(id.timestamp.body)) keyed with the decoded secret', () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    // The Standard Webhooks reference test vector.
    assert.equal(
      sign(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}'),
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
  });

  it('retries with backoff while the receiver is down, and the effect stays single when it deduplicates', async () => {
    receiver.mode = 'down';
    const before = receiver.requests.length;
    const n = await call(h.clients.a, 'create_notification', { title: 'Retry me', body: 'x', severity: 'critical' });
    const worker = h.worker({ maxAttempts: 10 }).start();
    await eventually(async () => receiver.requests.length - before >= 2, 10_000, 'two failed attempts');
    const pending = await h.database.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('notification_id', '=', n.id)
      .executeTakeFirstOrThrow();
    assert.equal(pending.status, 'pending');
    assert.ok(pending.attempts >= 2);
    assert.match(pending.last_error ?? '', /503/);
    // Back up, but the first successful processing loses its answer: one more retry, one effect.
    receiver.mode = 'fail-after-processing';
    await eventually(
      async () => [...receiver.requests.slice(before)].some((r) => r.verified && receiver.applied.has(r.id)),
      10_000,
      'processed',
    );
    receiver.mode = 'ok';
    await eventually(
      async () =>
        (
          await h.database.db
            .selectFrom('webhook_deliveries')
            .select('status')
            .where('notification_id', '=', n.id)
            .executeTakeFirstOrThrow()
        ).status === 'delivered',
      10_000,
      'delivered',
    );
    await worker.stop();
    const row = await h.database.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('notification_id', '=', n.id)
      .executeTakeFirstOrThrow();
    const sent = receiver.requests.filter((r) => r.id === row.id);
    assert.ok(sent.length >= 4, `${sent.length} attempts`);
    assert.equal(new Set(sent.map((r) => r.id)).size, 1, 'the same webhook-id on every attempt');
    assert.equal([...receiver.applied.keys()].filter((id) => id === row.id).length, 1);
    assert.equal(row.attempts, sent.length);
  });

  it('gives up after the configured attempts (dead), and admin webhook replay requeues the dead letters', async () => {
    receiver.mode = 'down';
    const n = await call(h.clients.a, 'create_notification', { title: 'Dead letter', body: 'x', severity: 'info' });
    const worker = h.worker({ maxAttempts: 3 }).start();
    const dead = await eventually(
      async () => {
        const row = await h.database.db
          .selectFrom('webhook_deliveries')
          .selectAll()
          .where('notification_id', '=', n.id)
          .executeTakeFirstOrThrow();
        return row.status === 'dead' ? row : undefined;
      },
      10_000,
      'dead',
    );
    assert.equal(dead.attempts, 3);
    const listed = await call(h.clients.a, 'list_notifications', { limit: 1 });
    assert.equal(listed.items[0]?.deliveries[0]?.status, 'dead');
    receiver.mode = 'ok';
    assert.equal(await replayDead(h.database.db, h.env.a.id), 1);
    assert.equal(await replayDead(h.database.db, h.env.b.id), 0);
    await eventually(
      async () =>
        (await h.database.db.selectFrom('webhook_deliveries').select('status').where('id', '=', dead.id).executeTakeFirstOrThrow())
          .status === 'delivered',
      10_000,
      'replayed',
    );
    await worker.stop();
    assert.ok(receiver.applied.has(dead.id));
  });

  it('refuses redirects: a 3xx is a failed attempt and is not followed', async () => {
    receiver.mode = 'redirect';
    const n = await call(h.clients.a, 'create_notification', { title: 'Redirected', body: 'x', severity: 'info' });
    const worker = h.worker({ maxAttempts: 1 });
    await eventually(async () => (await worker.runOnce()) > 0, 5_000, 'attempt');
    const row = await h.database.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('notification_id', '=', n.id)
      .executeTakeFirstOrThrow();
    assert.equal(row.status, 'dead');
    assert.equal(row.last_status, 302);
    receiver.mode = 'ok';
  });

  it('two workers (separate pools, as two processes) deliver a shared outbox without sending anything twice', async () => {
    receiver.mode = 'ok';
    const start = receiver.requests.length;
    const created = await Promise.all(
      Array.from({ length: 40 }, (_, i) => call(h.clients.a, 'create_notification', { title: `Bulk ${i}`, body: 'x', severity: 'info' })),
    );
    const one = h.worker({ batch: 3 }).start();
    const two = h.worker({ batch: 3 }).start();
    await eventually(async () => (await deliveries('pending')).length === 0, 20_000, 'all delivered');
    await Promise.all([one.stop(), two.stop()]);
    const ids = receiver.requests.slice(start).map((r) => r.id);
    assert.equal(ids.length, created.length, 'one request per notification');
    assert.equal(new Set(ids).size, created.length, 'no message sent twice');
    assert.equal(one.sent.delivered + two.sent.delivered, created.length);
    assert.ok(one.sent.delivered > 0 && two.sent.delivered > 0, `both workers delivered (${one.sent.delivered}, ${two.sent.delivered})`);
  });

  it('prunes delivered and dead rows after the retention period, and expired idempotency keys', async () => {
    const worker = h.worker({ retentionHours: 1 });
    const all = await deliveries();
    const delivered = all.filter((d) => d.status === 'delivered');
    assert.ok(delivered.length > 0);
    await h.database.db
      .updateTable('webhook_deliveries')
      .set({ updated_at: new Date(Date.now() - 2 * 3600_000) })
      .where('id', '=', delivered[0]!.id)
      .execute();
    await h.database.db
      .insertInto('idempotency_keys')
      .values({
        environment_id: h.env.a.id,
        tool: 'create_memory',
        key: 'old',
        request_hash: Buffer.alloc(32),
        result: '{}',
        created_at: new Date(Date.now() - 25 * 3600_000),
      })
      .execute();
    const pruned = await worker.prune();
    assert.deepEqual(pruned, { deliveries: 1, idempotencyKeys: 1 });
    assert.equal((await deliveries()).length, all.length - 1);
  });

  it('backs off exponentially with jitter, capped', () => {
    const s = { retryBaseMs: 1000, retryMaxMs: 60_000 };
    assert.equal(retryDelayMs(s, 1, 0), 500);
    assert.equal(retryDelayMs(s, 1, 1), 1000);
    assert.equal(retryDelayMs(s, 4, 1), 8000);
    assert.equal(retryDelayMs(s, 20, 1), 60_000);
    const samples = Array.from({ length: 50 }, () => retryDelayMs(s, 3));
    assert.ok(samples.every((d) => d >= 2000 && d <= 4000) && new Set(samples).size > 1);
  });
});

describe('webhook URLs: https and public addresses only (unless ALLOW_PRIVATE_NETWORK=1)', () => {
  it('refuses http, credentials and literal private addresses', () => {
    assert.throws(() => checkWebhookUrl('http://hooks.example.com/x', false), UnsafeUrlError);
    assert.throws(() => checkWebhookUrl('https://user:pw@hooks.example.com/x', false), UnsafeUrlError);
    assert.throws(() => checkWebhookUrl('ftp://hooks.example.com/x', true), UnsafeUrlError);
    for (const host of [
      '127.0.0.1',
      '10.1.2.3',
      '169.254.169.254',
      '[::1]',
      '[::ffff:127.0.0.1]',
      '[::ffff:a9fe:a9fe]',
      '0.0.0.0',
      '[fe80::1]',
      '224.0.0.1',
    ]) {
      assert.throws(() => checkWebhookUrl(`https://${host}/x`, false), UnsafeUrlError, host);
    }
    assert.equal(checkWebhookUrl('https://8.8.8.8/x', false).hostname, '8.8.8.8');
    assert.equal(checkWebhookUrl('http://127.0.0.1:9/x', true).hostname, '127.0.0.1');
  });

  it('classifies addresses, IPv4-mapped IPv6 included', () => {
    for (const a of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', 'fd00::1', '::', '100.64.0.1', '192.168.1.1', '172.16.0.1'])
      assert.ok(isNonPublicAddress(a), a);
    for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111']) assert.ok(!isNonPublicAddress(a), a);
  });

  it('resolves names itself and refuses one that points at a private address', async () => {
    await assert.rejects(resolvePublic('localhost', false), UnsafeUrlError);
    assert.ok((await resolvePublic('localhost', true)).length > 0);
    // Delivery checks again at connect time.
    await assert.rejects(
      safePost(receiver.url.replace('127.0.0.1', 'localhost').replace('http:', 'https:'), '{}', {
        allowPrivateNetwork: false,
        headers: {},
        timeoutMs: 1000,
      }),
      /not a public address/,
    );
  });

  it('webhook add/list/remove: refused URLs and secrets change nothing; remove drops pending deliveries', async () => {
    const options = { secretKey: SECRET, allowPrivateNetwork: false };
    await assert.rejects(addWebhook(h.database.db, options, h.env.b.id, 'http://example.com/hook'), WebhookAdminError);
    await assert.rejects(addWebhook(h.database.db, options, h.env.b.id, 'https://127.0.0.1/hook'), WebhookAdminError);
    await assert.rejects(
      addWebhook(h.database.db, { ...options, allowPrivateNetwork: true }, h.env.b.id, 'https://127.0.0.1/hook', 'nope'),
      WebhookAdminError,
    );
    assert.deepEqual(await listWebhooks(h.database.db, h.env.b.id), []);
    const added = await addWebhook(
      h.database.db,
      { ...options, allowPrivateNetwork: true },
      h.env.b.id,
      'https://127.0.0.1:1/hook',
      'whsec_' + Buffer.alloc(32, 7).toString('base64'),
    );
    assert.equal(added.secret, 'whsec_' + Buffer.alloc(32, 7).toString('base64'));
    const stored = await h.database.db.selectFrom('webhooks').select('sealed_secret').where('id', '=', added.id).executeTakeFirstOrThrow();
    assert.ok(!stored.sealed_secret.includes(added.secret.slice(6, 20)), 'the secret is sealed at rest');
    await call(h.clients.b, 'create_notification', { title: 'to be dropped', body: '', severity: 'info' });
    const listed = await listWebhooks(h.database.db, h.env.b.id);
    assert.deepEqual(
      listed.map((w) => [w.id, w.deliveries.pending]),
      [[added.id, 1]],
    );
    // Another environment's webhook id is unknown here.
    await assert.rejects(removeWebhook(h.database.db, h.env.b.id, webhookId), WebhookAdminError);
    await removeWebhook(h.database.db, h.env.b.id, added.id);
    assert.deepEqual(await listWebhooks(h.database.db, h.env.b.id), []);
    assert.equal(
      (await h.database.db.selectFrom('webhook_deliveries').select('id').where('environment_id', '=', h.env.b.id).execute()).length,
      0,
    );
  });
});

describe('create_notification input', () => {
  it('refuses bad input and read-only tokens', async () => {
    assert.equal(
      (await callError(h.clients.a, 'create_notification', { title: 'x', body: 'y', severity: 'urgent' })).code,
      'validation_failed',
    );
    assert.equal(
      (await callError(h.clients.a, 'create_notification', { title: '', body: 'y', severity: 'info' })).code,
      'validation_failed',
    );
    assert.equal(
      (await callError(h.clients.a, 'create_notification', { title: 'x', body: 'y', severity: 'info', link: 'javascript:alert(1)' })).code,
      'validation_failed',
    );
    assert.equal((await callError(h.clients.a, 'list_notifications', { cursor: 'not-a-cursor' })).code, 'invalid_cursor');
    await assertReaderRefused(h.servers.a, 'create_notification', { title: 'x', body: 'y', severity: 'info' });
  });

  it('pages with limit and cursor, newest first', async () => {
    const first = await call(h.clients.a, 'list_notifications', { limit: 2 });
    assert.equal(first.items.length, 2);
    assert.ok(first.next_cursor);
    const second = await call(h.clients.a, 'list_notifications', { limit: 2, cursor: first.next_cursor });
    assert.equal(second.items.length, 2);
    assert.ok(first.items.every((i) => !second.items.some((j) => j.id === i.id)));
    assert.ok(first.items[1]!.created_at >= second.items[0]!.created_at);
    const critical = await call(h.clients.a, 'list_notifications', { severity: 'critical' });
    assert.ok(critical.items.length >= 1 && critical.items.every((i) => i.severity === 'critical'));
  });
});
