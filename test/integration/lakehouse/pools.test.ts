import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEnvironment, createOrganization } from '../../../src/db/directory.js';
import { installId } from '../../../src/lakehouse/provision.js';
import { PostgresSandbox } from '../../../src/lakehouse/sandbox.js';
import { createLogger } from '../../../src/logger.js';
import { AppError } from '../../../src/errors.js';
import { createTestDatabase, noteInstallId, type TestDatabase } from '../../helpers/db.js';
import { addWarehouse, SECRET } from './harness.js';

// The PostgreSQL sandbox's pools (external connections): one per (environment, connection), each bounded by SQL_CONCURRENCY, closed when idle,
// and all of them together under a global cap that evicts the least recently used idle pool first.

/** Waits for the idle sweeper to close every pool (idleMs is 300 ms here). */
async function drained(lakehouse: PostgresSandbox): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (lakehouse.stats().pools > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  const { pools, connections } = lakehouse.stats();
  assert.deepEqual({ pools, connections }, { pools: 0, connections: 0 });
}

const run = (lakehouse: PostgresSandbox, env: string, sql = 'SELECT 1 AS one') =>
  lakehouse.query(env, 'warehouse', sql, { timeoutMs: 10_000, limit: 10, offset: 0, maxBytes: 1 << 20 });

describe('sandbox pools', () => {
  let database: TestDatabase;
  let lakehouse: PostgresSandbox;
  const envs: string[] = [];

  before(async () => {
    database = await createTestDatabase();
    await createOrganization(database.db, 'acme');
    for (const name of ['one', 'two', 'three']) {
      envs.push((await createEnvironment(database.db, { organization: 'acme', environment: name })).id);
    }
    const install = await installId(database.db);
    noteInstallId(database.name, install);
    for (const [i, id] of envs.entries()) await addWarehouse(database, install, id, String(i));
    lakehouse = await new PostgresSandbox(database.db, {
      secretKey: SECRET,
      sqlConcurrency: 2,
      maxConnections: 4,
      idleMs: 300,
      log: createLogger('silent'),
    }).init();
  });
  after(async () => {
    await lakehouse?.close();
    await database?.drop();
  });

  it('closes a pool that stays idle past idleMs', async () => {
    const [one = ''] = envs;
    await run(lakehouse, one);
    assert.equal(lakehouse.stats().pools, 1);
    await drained(lakehouse);
  });

  it('keeps every pool together under the global cap, evicting an idle one for a new environment', async () => {
    const [one = '', two = '', three = ''] = envs;
    // A sandbox of its own whose connections do not close while the test looks at them.
    const steady = await new PostgresSandbox(database.db, {
      secretKey: SECRET,
      sqlConcurrency: 2,
      maxConnections: 4,
      idleMs: 60_000,
      log: createLogger('silent'),
    }).init();
    try {
      await Promise.all([run(steady, one), run(steady, one), run(steady, two)]);
      const before = steady.stats();
      await run(steady, three);
      const stats = steady.stats();
      assert.ok(stats.connections <= 4, `at most 4 sandbox connections, got ${stats.connections}`);
      // A new pool may grow to 2 connections: when that could pass the cap, the least recently used idle pool made room.
      if (before.connections + 2 > 4) assert.equal(stats.pools, before.pools, `${JSON.stringify(before)} then ${JSON.stringify(stats)}`);
      else assert.equal(stats.pools, before.pools + 1);
    } finally {
      await steady.close();
    }
  });

  it('answers unavailable (503), without opening a connection, when the cap is full of running pools', async () => {
    const [one = '', two = '', three = ''] = envs;
    await drained(lakehouse);
    const slow = [
      run(lakehouse, one, 'SELECT pg_sleep(1.5)'),
      run(lakehouse, one, 'SELECT pg_sleep(1.5)'),
      run(lakehouse, two, 'SELECT pg_sleep(1.5)'),
    ];
    await new Promise((resolve) => setTimeout(resolve, 300));
    // one's pool holds 2 connections and two's at least 1: a third pool of up to 2 would pass the cap of 4.
    await assert.rejects(
      run(lakehouse, three),
      (error: unknown) => error instanceof AppError && error.code === 'unavailable' && error.status === 503,
    );
    await Promise.all(slow);
    assert.ok(lakehouse.stats().connections <= 4);
  });
});
