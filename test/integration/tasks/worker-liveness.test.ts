import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createLogger } from '../../../src/logger.js';
import { WorkerLiveness } from '../../../src/tasks/worker-liveness.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.js';

// The connection that marks a process's task workers alive (src/tasks/worker-liveness.ts) as the server stops
// and as PostgreSQL drops it: it never takes the process down, never outlives close(), and comes back after an
// outage with every worker locked again.

let test: TestDatabase;
let observer: pg.Client;
before(async () => {
  test = await createTestDatabase({ migrate: false });
  observer = new pg.Client({ connectionString: test.url });
  await observer.connect();
});
after(async () => {
  await observer?.end();
  await test?.drop();
});

/** The backends holding the liveness lock of `worker` (two-key advisory locks: classid, objid). */
async function holdersOf(worker: string): Promise<number[]> {
  const { rows } = await observer.query<{ pid: number }>(
    `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2
       AND classid = 31324 AND objid = hashtext($1)::oid`,
    [worker],
  );
  return rows.map((row) => row.pid);
}

const until = async (check: () => Promise<boolean>) => {
  for (let i = 0; i < 100 && !(await check()); i++) await new Promise((resolve) => setTimeout(resolve, 50));
};

describe('task queue: the liveness connection', () => {
  it('comes back after PostgreSQL dropped it, holding every worker again, without taking the process down', async () => {
    const pool = new pg.Pool({ connectionString: test.url, max: 3 });
    pool.on('error', () => undefined);
    const liveness = new WorkerLiveness(pool, createLogger('silent'));
    try {
      await liveness.claim('worker-a');
      const [holder] = await holdersOf('worker-a');
      assert.ok(holder, 'worker-a is locked');
      await observer.query('SELECT pg_terminate_backend($1)', [holder]);
      await until(async () => (await holdersOf('worker-a')).length === 0);
      await liveness.claim('worker-b'); // reconnects, locking both again
      const [a, b] = [await holdersOf('worker-a'), await holdersOf('worker-b')];
      assert.equal(a.length, 1);
      assert.deepEqual(b, a, 'one new connection holds both');
      assert.notEqual(a[0], holder);
    } finally {
      await liveness.close();
      await pool.end();
    }
  });

  it('a claim sent on a connection PostgreSQL dropped before the client heard of it locks on a new one', async () => {
    const pool = new pg.Pool({ connectionString: test.url, max: 3 });
    pool.on('error', () => undefined);
    const clients: pg.PoolClient[] = [];
    pool.on('acquire', (client) => clients.push(client));
    const liveness = new WorkerLiveness(pool, createLogger('silent'));
    try {
      await liveness.claim('worker-e');
      const [holder] = await holdersOf('worker-e');
      assert.ok(holder);
      // The liveness connection stops reading, so its client hears of the termination only after the next claim
      // is sent on it: the race CI met, made certain.
      const socket = (clients[0] as unknown as { connection: { stream: import('node:net').Socket } }).connection.stream;
      socket.pause();
      await observer.query('SELECT pg_terminate_backend($1)', [holder]);
      await until(async () => (await holdersOf('worker-e')).length === 0);
      const claimed = liveness.claim('worker-f');
      await new Promise((resolve) => setTimeout(resolve, 50));
      socket.resume();
      await claimed;
      const [e, f] = [await holdersOf('worker-e'), await holdersOf('worker-f')];
      assert.equal(e.length, 1, 'worker-e is locked again');
      assert.deepEqual(f, e, 'one new connection holds both');
      assert.notEqual(e[0], holder);
    } finally {
      await liveness.close();
      await pool.end();
    }
  });

  it('holds nothing after close(), also for a claim that was still connecting or came later', async () => {
    const pool = new pg.Pool({ connectionString: test.url, max: 3 });
    const liveness = new WorkerLiveness(pool, createLogger('silent'));
    const connecting = liveness.claim('worker-c');
    await liveness.close();
    await connecting.catch(() => undefined);
    await assert.rejects(liveness.claim('worker-d'), /stopped/);
    await until(async () => pool.totalCount === 0);
    assert.deepEqual(await holdersOf('worker-c'), []);
    assert.deepEqual(await holdersOf('worker-d'), []);
    assert.equal(pool.totalCount, 0, 'no connection left open');
    await pool.end();
  });
});
