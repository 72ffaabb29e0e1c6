import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertReaderRefused, call, callError, startAssetHarness, type AssetHarness } from './harness.js';

let h: AssetHarness;
before(async () => {
  h = await startAssetHarness();
});
after(() => h.close());

describe('memories', () => {
  it('creates a memory and finds it by full-text search', async () => {
    const memory = await call(h.clients.a, 'create_memory', {
      content: 'Revenue dashboards must exclude internal test accounts (users.plan = internal).',
      type: 'semantic',
      importance: 0.9,
      tags: ['revenue', 'data-quality'],
      source: 'conversation with finance',
    });
    assert.match(memory.id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(memory.tags, ['revenue', 'data-quality']);
    const found = await call(h.clients.reader, 'search_memories', { query: 'revenue test accounts' });
    assert.equal(found.items[0]?.memory.id, memory.id);
    assert.ok((found.items[0]?.score ?? 0) > 0);
    // Filters: type and tags.
    assert.equal((await call(h.clients.a, 'search_memories', { query: 'revenue', type: 'episodic' })).items.length, 0);
    assert.equal((await call(h.clients.a, 'search_memories', { query: 'revenue', tags: ['revenue'] })).items.length, 1);
    assert.equal((await call(h.clients.a, 'search_memories', { query: 'revenue', tags: ['revenue', 'other'] })).items.length, 0);
  });

  it('ranks by relevance × importance × recency: important and recent first', async () => {
    const low = await call(h.clients.a, 'create_memory', {
      content: 'churn spikes after the pricing change',
      type: 'episodic',
      importance: 0.1,
    });
    const high = await call(h.clients.a, 'create_memory', {
      content: 'churn spikes after the pricing change',
      type: 'episodic',
      importance: 0.8,
    });
    const old = await call(h.clients.a, 'create_memory', {
      content: 'churn spikes after the pricing change',
      type: 'episodic',
      importance: 1,
    });
    // 120 days old: 0.5^4 of its score, below the 0.8 one and above the 0.1 one (0.28 vs 0.0625 × 1 vs 0.19).
    await h.database.db
      .updateTable('memories')
      .set({ created_at: new Date(Date.now() - 120 * 86_400_000) })
      .where('id', '=', old.id)
      .execute();
    const found = await call(h.clients.a, 'search_memories', { query: 'churn pricing' });
    assert.deepEqual(
      found.items.map((i) => i.memory.id),
      [high.id, low.id, old.id],
    );
    const scores = found.items.map((i) => i.score);
    assert.ok(scores[0]! > scores[1]! && scores[1]! > scores[2]!, JSON.stringify(scores));
  });

  it('refuses content over 8 KiB of UTF-8, bad types and out-of-range importance, creating nothing', async () => {
    const before = await h.database.db
      .selectFrom('memories')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    // 3,000 characters but 9,000 bytes.
    assert.equal(
      (await callError(h.clients.a, 'create_memory', { content: '€'.repeat(3000), type: 'semantic', importance: 0.5 })).code,
      'payload_too_large',
    );
    assert.equal(
      (await callError(h.clients.a, 'create_memory', { content: 'x'.repeat(8193), type: 'semantic', importance: 0.5 })).code,
      'validation_failed',
    );
    assert.equal(
      (await callError(h.clients.a, 'create_memory', { content: 'x', type: 'opinion', importance: 0.5 })).code,
      'validation_failed',
    );
    assert.equal(
      (await callError(h.clients.a, 'create_memory', { content: 'x', type: 'semantic', importance: 1.5 })).code,
      'validation_failed',
    );
    assert.equal(
      (await callError(h.clients.a, 'create_memory', { content: 'x', type: 'semantic', importance: '0.5' })).code,
      'validation_failed',
    );
    assert.equal(
      (await callError(h.clients.a, 'create_memory', { content: 'x', type: 'semantic', importance: 0.5, tags: 'a' })).code,
      'validation_failed',
    );
    assert.equal((await callError(h.clients.a, 'search_memories', { query: '' })).code, 'validation_failed');
    assert.equal((await callError(h.clients.a, 'search_memories', { query: 'x', limit: 51 })).code, 'validation_failed');
    const after = await h.database.db
      .selectFrom('memories')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    assert.equal(after.n, before.n);
    // Exactly 8 KiB is fine.
    await call(h.clients.a, 'create_memory', { content: 'é'.repeat(4096), type: 'semantic', importance: 0 });
  });

  it("keeps environments apart: b does not find a's memories", async () => {
    await call(h.clients.a, 'create_memory', { content: 'the zebra table is deprecated', type: 'semantic', importance: 1 });
    assert.equal((await call(h.clients.a, 'search_memories', { query: 'zebra' })).items.length, 1);
    assert.equal((await call(h.clients.b, 'search_memories', { query: 'zebra' })).items.length, 0);
  });

  it('refuses create_memory with a read-only token (403 insufficient_scope)', async () => {
    await assertReaderRefused(h.servers.a, 'create_memory', { content: 'x', type: 'semantic', importance: 0.5 });
  });

  it('answers an idempotent retry with the first result, refuses the key with another payload', async () => {
    const input = { content: 'retry me', type: 'procedural' as const, importance: 0.5, idempotency_key: 'mem-1' };
    const first = await call(h.clients.a, 'create_memory', input);
    const again = await call(h.clients.a, 'create_memory', { ...input });
    assert.deepEqual(again, first);
    const conflict = await callError(h.clients.a, 'create_memory', { ...input, content: 'something else' });
    assert.equal(conflict.code, 'idempotency_conflict');
    // The same key in another environment is another key.
    const other = await call(h.clients.b, 'create_memory', input);
    assert.notEqual(other.id, first.id);
    // Concurrent retries with one key create exactly one memory.
    const racing = { content: 'race', type: 'procedural' as const, importance: 0.5, idempotency_key: 'mem-race' };
    const results = await Promise.all(Array.from({ length: 5 }, () => call(h.clients.a, 'create_memory', racing)));
    assert.equal(new Set(results.map((r) => r.id)).size, 1);
    const rows = await h.database.db.selectFrom('memories').select('id').where('content', '=', 'race').execute();
    assert.equal(rows.length, 1);
  });
});
