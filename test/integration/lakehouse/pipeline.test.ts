import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { createLogger } from '../../../src/logger.js';
import { jsonTypes } from '../../../src/lakehouse/json-types.js';
import { PipelinedStatement } from '../../../src/lakehouse/pipelined-statement.js';
import { addConnection } from '../../../src/lakehouse/connections.js';
import { PostgresSandbox, RESET_QUERIES } from '../../../src/lakehouse/sandbox.js';
import { checkReadStatement } from '../../../src/lakehouse/sql-guard.js';
import { advisoryLocksHeld, call, callError, SECRET, startLakehouseHarness, type LakehouseHarness } from './harness.js';

// query_lakehouse and explain_sql send the set-up, the user statement, Sync and the session reset in one
// write (src/lakehouse/pipelined-statement.ts). These tests pin what makes that safe: the user statement
// runs only after every set-up statement succeeded, inside the READ ONLY transaction with its timeouts;
// nothing in its text reaches past its own Parse message; the session is reset before the answer, also
// after an error; and windows larger than one Execute still page correctly.

let h: LakehouseHarness;
before(async () => {
  h = await startLakehouseHarness({ warehouse: true });
  await sql.raw(`CREATE TABLE ${h.env.a.schema}.orders AS SELECT g AS id FROM generate_series(1, 5) g`).execute(h.database.db);
  await sql.raw('CREATE TABLE public.pipeline_probe (n int)').execute(h.database.db);
});
after(async () => {
  await h?.close();
});

const RESET = ['ROLLBACK', 'DISCARD ALL'];
const WINDOW = { offset: 0, limit: 1000, maxBytes: 1024 * 1024 };

/** The session as the next statement sees it: still read-only, its timeouts, UTC, and the orders table intact. */
async function sandboxStillHolds(timeoutMs = 15_000): Promise<void> {
  const result = await call(h.clients.a, 'query_lakehouse', {
    connection: 'warehouse',
    sql: "SELECT current_setting('transaction_read_only'), current_setting('statement_timeout'), current_setting('TimeZone'), (SELECT count(*) FROM orders)",
    timeout_ms: timeoutMs,
  });
  assert.deepEqual(result.rows, [['on', timeoutMs % 1000 === 0 ? `${timeoutMs / 1000}s` : `${timeoutMs}ms`, 'UTC', '5']]);
}

describe('sandbox: one round trip per statement', () => {
  it('never runs the user statement when a set-up statement fails, and resets the session anyway', async () => {
    const client = new pg.Client({ connectionString: h.database.url });
    await client.connect();
    try {
      // The application's own user may write: only the failed set-up keeps this INSERT from running.
      const statement = new PipelinedStatement(
        client,
        ['BEGIN READ ONLY', "SET LOCAL statement_timeout = 'not a duration'"],
        'INSERT INTO public.pipeline_probe VALUES (1)',
        [],
        WINDOW,
        jsonTypes,
        RESET,
      );
      client.query(statement);
      await assert.rejects(statement.result, (error: Error & { code?: string }) => error.code === '22023');
      assert.equal(await statement.reset, undefined, 'the reset ran');
      const probe = await sql<{ n: number }>`SELECT count(*)::int AS n FROM public.pipeline_probe`.execute(h.database.db);
      assert.equal(probe.rows[0]?.n, 0, 'the INSERT never ran');
      const after = await client.query("SELECT current_setting('transaction_read_only') AS ro");
      assert.deepEqual(after.rows, [{ ro: 'off' }], 'no transaction is left open');
    } finally {
      await client.end();
    }
  });

  it('runs the user statement inside the READ ONLY transaction with the timeouts of the call', async () => {
    const result = await call(h.clients.a, 'query_lakehouse', {
      connection: 'warehouse',
      sql: "SELECT current_setting('transaction_read_only'), current_setting('statement_timeout'), current_setting('lock_timeout'), current_setting('idle_in_transaction_session_timeout'), current_setting('TimeZone')",
      timeout_ms: 1234,
    });
    assert.deepEqual(result.rows, [['on', '1234ms', '1234ms', '11234ms', 'UTC']]);
    const error = await callError(h.clients.a, 'query_lakehouse', { connection: 'warehouse', sql: 'SELECT pg_sleep(5)', timeout_ms: 300 });
    assert.equal(error.code, 'query_timeout');
    await sandboxStillHolds();
  });

  it('keeps comments, quotes, dollar quotes and backslashes inside the one statement', async () => {
    const trailing = await call(h.clients.a, 'query_lakehouse', { connection: 'warehouse', sql: 'SELECT 1 AS one --' });
    assert.deepEqual(trailing.rows, [[1]]);
    const block = await call(h.clients.a, 'query_lakehouse', { connection: 'warehouse', sql: 'SELECT 2 AS two /* COMMIT */' });
    assert.deepEqual(block.rows, [[2]]);
    const dollars = await call(h.clients.a, 'query_lakehouse', {
      connection: 'warehouse',
      sql: 'SELECT $q$; COMMIT; DROP TABLE orders; $q$ AS t',
    });
    assert.deepEqual(dollars.rows, [['; COMMIT; DROP TABLE orders; ']]);
    const backslash = await call(h.clients.a, 'query_lakehouse', { connection: 'warehouse', sql: "SELECT '\\' AS b -- '; COMMIT" });
    assert.deepEqual(backslash.rows, [['\\']]);
    await sandboxStillHolds();
  });

  it('refuses what would end the statement early: a second statement, an open comment, a NUL', async () => {
    for (const text of [
      'SELECT 1; COMMIT',
      'SELECT 1; ROLLBACK; DROP TABLE orders',
      "SELECT '\\'; COMMIT; --'",
      'SELECT 1 /*',
      'SELECT $$; COMMIT',
      'SELECT 1\u0000; COMMIT',
      'SELECT 1 --\u0000\nDROP TABLE orders',
    ]) {
      const error = await callError(h.clients.a, 'query_lakehouse', { connection: 'warehouse', sql: text });
      assert.ok(['sql_refused', 'sql_syntax_error'].includes(error.code), `${JSON.stringify(text)}: ${error.code} ${error.message}`);
    }
    await sandboxStillHolds();
  });

  it('resets the session before answering, also when the statement fails after taking a lock', async () => {
    // The guard refuses advisory locks; the pipelined reset behind it is tested below the guard, on a sandbox
    // connection: the statement takes a session lock and then fails, and the lock is gone once it answered.
    // 1 / (g - 1), not 1 / 0: the planner folds a constant division and would fail before the lock is taken.
    const text = 'SELECT pg_advisory_lock(77), 1 / (g - 1) FROM generate_series(1, 1) g';
    assert.equal((await callError(h.clients.a, 'query_lakehouse', { connection: 'warehouse', sql: text })).code, 'sql_refused');
    await h.lakehouse.postgres.withSandbox(h.env.a.id, 'warehouse', { timeoutMs: 5_000 }, async (client) => {
      await client.query('ROLLBACK'); // withSandbox's own set-up: the pipelined statement opens its own
      const statement = new PipelinedStatement(
        client,
        ['BEGIN READ ONLY'],
        text,
        [],
        { offset: 0, limit: 10, maxBytes: Infinity },
        jsonTypes,
        RESET_QUERIES,
      );
      void client.query(statement);
      await assert.rejects(statement.result, /division by zero/);
      assert.equal(await statement.reset, undefined);
      assert.equal(await advisoryLocksHeld(h, 77), 0, 'the reset released the session lock before the answer');
    });
    const idle = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = ${h.env.a.role} AND state <> 'idle'`.execute(h.database.db);
    assert.equal(idle.rows[0]?.n, 0, 'no sandbox session is left in a transaction');
    await sandboxStillHolds();
  });

  it('pages windows larger than one Execute: offsets and limits past 1,001 rows', async () => {
    const text = 'SELECT g FROM generate_series(1, 5000) g';
    const middle = await call(h.clients.a, 'query_lakehouse', { connection: 'warehouse', sql: text, offset: 1500, limit: 2000 });
    assert.equal(middle.row_count, 2000);
    assert.deepEqual([middle.rows[0], middle.rows[1999]], [[1501], [3500]]);
    assert.equal(middle.truncated, true);
    assert.equal(middle.next_offset, 3500);
    const last = await call(h.clients.a, 'query_lakehouse', { connection: 'warehouse', sql: text, offset: 4500, limit: 1000 });
    assert.equal(last.row_count, 500);
    assert.deepEqual(last.rows[499], [5000]);
    assert.equal(last.truncated, false);
    const past = await call(h.clients.a, 'query_lakehouse', { connection: 'warehouse', sql: text, offset: 6000, limit: 10 });
    assert.equal(past.row_count, 0);
    assert.equal(past.truncated, false);
  });

  it('explain_sql and validate_sql go through the same pipeline', async () => {
    const explained = await call(h.clients.a, 'explain_sql', {
      connection: 'warehouse',
      sql: 'SELECT * FROM orders WHERE id = 3',
      analyze: true,
    });
    assert.ok(JSON.stringify(explained.plan).includes('Actual Rows'), 'EXPLAIN ANALYZE ran');
    const invalid = await call(h.clients.a, 'validate_sql', { connection: 'warehouse', sql: 'SELECT no_such_column FROM orders' });
    assert.equal(invalid.valid, false);
    assert.match(invalid.errors[0]?.message ?? '', /no_such_column/);
    await sandboxStillHolds();
  });
});

/**
 * A TCP proxy in front of PostgreSQL that counts round trips: each time the client speaks again after the
 * server has answered (or for the first time) is one.
 */
class RoundTripCounter {
  roundTrips = 0;
  private readonly sockets = new Set<net.Socket>();
  private readonly server = net.createServer((client) => {
    const upstream = net.connect(this.target.port, this.target.host);
    this.sockets.add(client).add(upstream);
    let answered = true;
    client.on('data', (chunk) => {
      if (answered) this.roundTrips += 1;
      answered = false;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      answered = true;
      client.write(chunk);
    });
    for (const socket of [client, upstream]) socket.on('error', () => undefined);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });

  constructor(private readonly target: { host: string; port: number }) {}

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return String((this.server.address() as net.AddressInfo).port);
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('sandbox: round trips to PostgreSQL', () => {
  it('costs one round trip per query_lakehouse call, set-up and reset included, also when the statement fails', async () => {
    // The warehouse connection once more, through a proxy that counts round trips.
    const url = new URL(h.env.a.url);
    const counter = new RoundTripCounter({ host: url.hostname, port: Number(url.port) });
    url.port = await counter.listen();
    url.hostname = '127.0.0.1';
    await addConnection(h.database.db, SECRET, h.env.a.id, 'counted', url.href);
    const lakehouse = await new PostgresSandbox(h.database.db, {
      secretKey: SECRET,
      sqlConcurrency: 1,
      log: createLogger('silent'),
    }).init();
    const options = { limit: 1000, offset: 0, maxBytes: 1024 * 1024, timeoutMs: 15_000 };
    try {
      // The first call also opens (and authenticates) the pool's connection.
      await lakehouse.query(h.env.a.id, 'counted', 'SELECT * FROM orders WHERE id = 4', options);
      counter.roundTrips = 0;
      const point = await lakehouse.query(h.env.a.id, 'counted', 'SELECT * FROM orders WHERE id = 4', options);
      assert.equal(point.row_count, 1);
      assert.equal(counter.roundTrips, 1, 'a point query');
      counter.roundTrips = 0;
      await assert.rejects(lakehouse.query(h.env.a.id, 'counted', 'SELECT 1 / 0', options), /division by zero/);
      assert.equal(counter.roundTrips, 1, 'a failing statement');
      counter.roundTrips = 0;
      const capped = await lakehouse.query(h.env.a.id, 'counted', 'SELECT generate_series(1, 100000000)', options);
      assert.equal(capped.truncated, true);
      assert.equal(counter.roundTrips, 1, 'a capped result of the default limit');
      counter.roundTrips = 0;
      await lakehouse.query(h.env.a.id, 'counted', 'SELECT generate_series(1, 100000000)', { ...options, offset: 2500, limit: 10 });
      assert.equal(counter.roundTrips, 3, 'a window of rows 2,501 to 2,511: one round trip per batch of at most 1,000 rows');
      counter.roundTrips = 0;
      const short = await lakehouse.query(h.env.a.id, 'counted', 'SELECT generate_series(1, 1500)', {
        ...options,
        offset: 1400,
        limit: 1000,
      });
      assert.equal(short.row_count, 100);
      assert.equal(counter.roundTrips, 3, 'rows that run out early: two batches, then Sync and reset');
    } finally {
      await lakehouse.close();
      await counter.close();
    }
  });
});

describe('sql guard: checked statements are cached by text', () => {
  it('answers an identical text from the cache, frozen, and never caches a refusal', () => {
    const first = checkReadStatement('SELECT 42 AS cached');
    assert.equal(checkReadStatement('SELECT 42 AS cached'), first);
    assert.ok(Object.isFrozen(first));
    assert.throws(() => checkReadStatement('DELETE FROM orders'), /not a read statement/);
    assert.throws(() => checkReadStatement('DELETE FROM orders'), /not a read statement/);
  });
});
