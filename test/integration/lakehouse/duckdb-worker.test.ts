import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { AppError } from '../../../src/errors.js';
import { checkDuckStatement } from '../../../src/lakehouse/duckdb/guard.js';
import { DuckWorkerPool, type DuckPoolOptions } from '../../../src/lakehouse/duckdb/pool.js';
import { DuckWorker, type DuckWorkerOptions } from '../../../src/lakehouse/duckdb/worker.js';

// The DuckDB worker process (issue 15, item 1): a locked DuckDB in its own process that reads only its
// environment's folder, runs only one SELECT or EXPLAIN, caps rows and bytes while reading, stops at its
// timeout or on cancel, and dies alone when it runs out of memory.

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'duck-worker-'));
const own = path.join(root, 'env-a');
const other = path.join(root, 'env-b');
const options = (extra: Partial<DuckWorkerOptions> = {}): DuckWorkerOptions => ({
  catalogs: { lakehouse: { orders: [path.join(own, 'orders.parquet')] } },
  searchPaths: { lakehouse: ['lakehouse.main'] },
  allowedDirectories: [`${own}/`],
  tempDirectory: path.join(root, 'tmp', String(Math.random()).slice(2)),
  threads: 1,
  memoryLimitMb: 256,
  hardMemoryMb: 1024,
  maxTempMb: 64,
  ...extra,
});
const QUERY = { limit: 100, maxBytes: 1024 * 1024, timeoutMs: 10_000 };

let worker: DuckWorker;
before(async () => {
  fs.mkdirSync(own, { recursive: true });
  fs.mkdirSync(other, { recursive: true });
  const setup = await (await DuckDBInstance.create(':memory:')).connect();
  await setup.run(
    `COPY (SELECT range AS id, 'customer ' || (range % 7) AS customer, range * 1.5 AS amount FROM range(1000)) TO '${own}/orders.parquet' (FORMAT parquet)`,
  );
  await setup.run(`COPY (SELECT 'the other environment' AS secret) TO '${other}/secret.parquet' (FORMAT parquet)`);
  worker = await DuckWorker.start(options());
});
after(async () => {
  await worker?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

async function refusal(sql: string, on = worker): Promise<AppError> {
  try {
    await on.query(sql, QUERY);
  } catch (error) {
    assert.ok(error instanceof AppError, String(error));
    return error;
  }
  assert.fail(`not refused: ${sql}`);
}

describe('the DuckDB statement guard', () => {
  it('answers what a statement is, or refuses it with the right code', async () => {
    const connection = await (await DuckDBInstance.create(':memory:')).connect();
    const kinds = async (sql: string) =>
      checkDuckStatement(connection, sql).then(
        (checked) => checked.kind,
        (error: AppError) => error.code,
      );
    assert.equal(await kinds('SELECT 1'), 'select');
    assert.equal(await kinds('FROM range(3)'), 'select');
    assert.equal(await kinds('WITH a AS (SELECT 1 AS x) SELECT x FROM a'), 'select');
    assert.equal(await kinds('EXPLAIN SELECT 1'), 'explain');
    assert.equal(await kinds('explain analyze SELECT 1'), 'explain');
    for (const sql of [
      '',
      '  ',
      'SELECT 1; DETACH memory',
      "COPY (SELECT 1) TO '/tmp/x.csv'",
      'CREATE TABLE t (a int)',
      'SET threads = 4',
      'DETACH memory',
      "ATTACH 'x.db'",
      'INSTALL httpfs',
      'LOAD json',
      'EXPLAIN CREATE TABLE t (a int)',
    ]) {
      assert.equal(await kinds(sql), 'sql_refused', sql);
    }
    assert.equal(await kinds('SELEC 1'), 'sql_syntax_error');
    assert.equal(await kinds('SELECT * FROM no_such_table'), 'sql_error');
  });
});

describe('a DuckDB worker', () => {
  it('answers a SELECT over its own Parquet data, with column types', async () => {
    const result = await worker.query(
      'SELECT customer, count(*) AS n, sum(amount) AS total FROM orders GROUP BY 1 ORDER BY 1 LIMIT 2',
      QUERY,
    );
    assert.deepEqual(
      result.columns.map((c) => c.name),
      ['customer', 'n', 'total'],
    );
    assert.equal(result.columns[1]?.type, 'BIGINT');
    assert.deepEqual(result.rows[0]?.slice(0, 2), ['customer 0', 143]);
    assert.equal(result.truncated, false);
  });

  it('names tables catalog.schema.table, resolves bare names by the search path, and redefines views', async () => {
    const catalogs = {
      lakehouse: { orders: [path.join(own, 'orders.parquet')] },
      sample: { events: [path.join(own, 'orders.parquet'), path.join(own, 'orders.parquet')] },
    };
    const two = await DuckWorker.start(options({ catalogs, searchPaths: { lakehouse: ['lakehouse.main', 'sample.main'] } }));
    try {
      const join = await two.query('SELECT count(*) FROM lakehouse.main.orders o JOIN sample.main.events e USING (id)', QUERY);
      assert.equal(join.rows[0]?.[0], 2000);
      assert.equal((await two.query('SELECT count(*) FROM events', QUERY)).rows[0]?.[0], 2000);
      await two.define({ lakehouse: {}, sample: { events: [path.join(own, 'orders.parquet')] } }, 'v2');
      assert.equal(two.catalogVersion, 'v2');
      assert.equal((await two.query('SELECT count(*) FROM events', QUERY)).rows[0]?.[0], 1000);
      assert.equal(((await two.query('SELECT * FROM orders', QUERY).catch((error: AppError) => error)) as AppError).code, 'sql_error');
    } finally {
      await two.close();
    }
  });

  it('caps rows and bytes while reading, and refuses a first row over the byte cap', async () => {
    const capped = await worker.query('SELECT * FROM range(1000000)', { ...QUERY, limit: 5 });
    assert.equal(capped.rows.length, 5);
    assert.equal(capped.truncated, true);
    const small = await worker.query("SELECT repeat('x', 1000) FROM range(100)", { ...QUERY, maxBytes: 5_000 });
    assert.ok(small.rows.length < 5 && small.truncated);
    const huge = await refusal("SELECT repeat('x', 50000000) AS huge");
    assert.equal(huge.code, 'row_too_large');
  });

  it('refuses writes, attaches, settings and more than one statement, and changes nothing', async () => {
    for (const sql of [
      'SELECT 1; DETACH memory',
      'DETACH memory',
      `COPY (SELECT 1) TO '${own}/written.csv'`,
      'CREATE TABLE t AS SELECT 1',
      "SET memory_limit = '8GB'",
      `ATTACH '${own}/other.db'`,
      'INSTALL httpfs',
      'DROP VIEW orders',
    ]) {
      assert.equal((await refusal(sql)).code, 'sql_refused', sql);
    }
    assert.ok(!fs.existsSync(path.join(own, 'written.csv')));
    assert.equal((await worker.query('SELECT count(*) FROM orders', QUERY)).rows[0]?.[0], 1000);
  });

  it('reads nothing outside its own folder', async () => {
    for (const sql of [
      `SELECT * FROM read_parquet('${other}/secret.parquet')`,
      "SELECT * FROM read_text('/etc/passwd')",
      `SELECT * FROM glob('${root}/*/*')`,
      `SELECT * FROM read_csv('/proc/self/environ')`,
    ]) {
      const error = await refusal(sql);
      assert.ok(['permission_denied', 'sql_error'].includes(error.code), `${sql}: ${error.code} ${error.message}`);
    }
    const databases = await worker.query('SELECT database_name FROM duckdb_databases() WHERE NOT internal ORDER BY 1', QUERY);
    assert.deepEqual(databases.rows, [['lakehouse'], ['memory']]);
    const settings = await worker.query("SELECT value FROM duckdb_settings() WHERE name = 'allowed_directories'", QUERY);
    assert.doesNotMatch(JSON.stringify(settings.rows), /env-b/);
  });

  it('stops a statement at its timeout, and on cancel, and then serves the next one', async () => {
    const slow = 'SELECT count(*) FROM range(100000000000) a';
    const started = Date.now();
    const timedOut = await worker.query(slow, { ...QUERY, timeoutMs: 200 }).catch((error: AppError) => error);
    assert.equal((timedOut as AppError).code, 'query_timeout');
    assert.ok(Date.now() - started < 5_000);
    const controller = new AbortController();
    const cancelled = worker.query(slow, { ...QUERY, signal: controller.signal }).catch((error: AppError) => error);
    setTimeout(() => controller.abort(), 200);
    assert.equal(((await cancelled) as AppError).code, 'cancelled');
    assert.equal((await worker.query('SELECT 42', QUERY)).rows[0]?.[0], 42);
  });

  it('stops a call cancelled at any moment: while it is checked, planned or run', async () => {
    // A cancel heard between two of a call's statements (its check, its plan under a scan budget, its run) was
    // once lost: the statement then ran on to its timeout. Cancels at many moments, one of them in each gap.
    const slow = 'SELECT count(*) FROM range(100000000000) a, range(10) b WHERE a.range % 7 = b.range';
    for (let delayMs = 0; delayMs <= 24; delayMs += 2) {
      const controller = new AbortController();
      const call = worker
        .query(slow, { ...QUERY, timeoutMs: 5_000, scanBudget: { rows: 1e15, bytes: null }, signal: controller.signal })
        .catch((error: AppError) => error);
      setTimeout(() => controller.abort(), delayMs);
      const error = (await call) as AppError;
      assert.equal(error.code, 'cancelled', `cancelled after ${delayMs} ms: ${error.message}`);
    }
    assert.equal((await worker.query('SELECT 44', QUERY)).rows[0]?.[0], 44);
  });

  it('never runs a statement cancelled while it waited behind another', async () => {
    const first = worker.query('SELECT count(*) FROM range(100000000000) a', { ...QUERY, timeoutMs: 300 }).catch((e: AppError) => e);
    const controller = new AbortController();
    // Queued in the worker behind the first: had it run, it would answer 42.
    const waiting = worker.query('SELECT 42', { ...QUERY, signal: controller.signal }).catch((e: AppError) => e);
    setTimeout(() => controller.abort(), 50);
    assert.equal(((await waiting) as AppError).code, 'cancelled');
    assert.equal(((await first) as AppError).code, 'query_timeout');
    assert.equal((await worker.query('SELECT 43', QUERY)).rows[0]?.[0], 43);
  });
  it('has no secrets in its environment and a higher out-of-memory score than the server', async () => {
    // Only what Node itself sets up for the IPC channel.
    const names = fs
      .readFileSync(`/proc/${worker.pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((entry) => entry.split('=')[0]);
    assert.deepEqual(
      names.filter((name) => !name?.startsWith('NODE_CHANNEL_')),
      [],
    );
    assert.equal(fs.readFileSync(`/proc/${worker.pid}/oom_score_adj`, 'utf8').trim(), '1000');
  });

  it('dies alone past its hard memory bound: the call gets out_of_memory, this process lives on', async () => {
    const greedy = await DuckWorker.start(options({ memoryLimitMb: 4096, hardMemoryMb: 200 }));
    try {
      const error = await refusal('SELECT list(range) FROM range(200000000)', greedy);
      assert.equal(error.code, 'out_of_memory', error.message);
      assert.equal(greedy.alive, false);
      assert.equal((await worker.query('SELECT 1', QUERY)).rows[0]?.[0], 1);
    } finally {
      await greedy.close();
    }
  });
});

describe('the pool of DuckDB workers', () => {
  const poolFor = (extra: Partial<DuckPoolOptions> = {}) =>
    new DuckWorkerPool({
      maxWorkers: 2,
      idleMs: 60_000,
      queueMs: 5_000,
      maxQueuedPerEnvironment: 16,
      workerOptions: (environmentId) =>
        environmentId === 'b'
          ? options({ catalogs: { lakehouse: { secret: [path.join(other, 'secret.parquet')] } }, allowedDirectories: [`${other}/`] })
          : options(),
      ...extra,
    });

  it("queues an agent's parallel calls instead of refusing them, and keeps environments apart", async () => {
    const pool = poolFor();
    try {
      const answers = await Promise.all(Array.from({ length: 8 }, () => pool.run('a', 'SELECT count(*) FROM orders', QUERY)));
      assert.ok(answers.every((answer) => answer.rows[0]?.[0] === 1000));
      assert.equal((await pool.run('b', 'SELECT secret FROM secret', QUERY)).rows[0]?.[0], 'the other environment');
      const fromA = await pool.run('a', 'SELECT * FROM secret', QUERY).catch((error: AppError) => error);
      assert.equal((fromA as AppError).code, 'sql_error');
    } finally {
      await pool.close();
    }
  });

  it('answers busy when too many calls wait, or one waits past queueMs', async () => {
    const pool = poolFor({ maxQueuedPerEnvironment: 2, queueMs: 300 });
    try {
      const slow = 'SELECT count(*) FROM range(100000000000)';
      const calls = [1, 2, 3].map(() =>
        pool.run('a', slow, { ...QUERY, timeoutMs: 1_500 }).then(
          () => 'ok',
          (error: AppError) => error.code,
        ),
      );
      const codes = await Promise.all(calls);
      assert.equal(codes.filter((code) => code === 'busy').length, 2, codes.join(','));
      assert.ok(codes.includes('query_timeout'), codes.join(','));
    } finally {
      await pool.close();
    }
  });

  it('stops the least recently used idle worker at the cap, and idle ones after idleMs', async () => {
    const pool = poolFor({ maxWorkers: 1, idleMs: 300 });
    try {
      await pool.run('a', 'SELECT 1', QUERY);
      await pool.run('b', 'SELECT 1', QUERY);
      assert.equal(pool.size, 1);
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      assert.equal(pool.size, 0);
    } finally {
      await pool.close();
    }
  });

  it('replaces a worker that died: the next call of that environment is served', async () => {
    const pool = poolFor({ workerOptions: () => options({ memoryLimitMb: 4096, hardMemoryMb: 200 }) });
    try {
      const died = await pool.run('a', 'SELECT list(range) FROM range(200000000)', QUERY).catch((error: AppError) => error.code);
      assert.equal(died, 'out_of_memory');
      assert.equal((await pool.run('a', 'SELECT count(*) FROM orders', QUERY)).rows[0]?.[0], 1000);
    } finally {
      await pool.close();
    }
  });
});
