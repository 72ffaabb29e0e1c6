import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { createEnvironment, createOrganization } from '../../../src/db/directory.js';
import { AppError } from '../../../src/errors.js';
import { DuckEngine } from '../../../src/lakehouse/duckdb/engine.js';
import { generateSampleParquet } from '../../../src/lakehouse/duckdb/sample-parquet.js';
import { TableStore } from '../../../src/lakehouse/duckdb/table-store.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.js';

// The DuckDB lakehouse end to end below the tools (issue 15, items 1-3): the sample and each environment's
// committed tables in its own worker, `catalog.schema.table` names, bare names resolving to the
// environment's tables first, a committed load seen by the next query, environments kept apart.

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'duck-engine-'));
const QUERY = { limit: 100, maxBytes: 1024 * 1024, timeoutMs: 10_000 };
let database: TestDatabase;
let store: TableStore;
let engine: DuckEngine;
let a: string;
let b: string;

const one = async (environmentId: string, sql: string) => (await engine.query(environmentId, sql, QUERY)).rows[0]?.[0];

before(async () => {
  database = await createTestDatabase();
  await createOrganization(database.db, 'acme');
  a = (await createEnvironment(database.db, { organization: 'acme', environment: 'production' })).id;
  b = (await createEnvironment(database.db, { organization: 'acme', environment: 'staging' })).id;
  const sample = await generateSampleParquet(path.join(root, 'sample'), { anchor: '2026-03-01', events: 60_000 });
  store = new TableStore(database.db, path.join(root, 'lakehouse'));
  engine = new DuckEngine({
    store,
    sample: { dir: path.join(root, 'sample'), files: sample.files },
    tempRoot: path.join(root, 'tmp'),
    pool: { maxWorkers: 4, idleMs: 60_000, queueMs: 5_000, maxQueuedPerEnvironment: 16 },
    worker: { threads: 1, memoryLimitMb: 256, hardMemoryMb: 1024, maxTempMb: 64 },
  });
});
after(async () => {
  await engine?.close();
  await database?.drop();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('the DuckDB lakehouse engine', () => {
  it('answers a first query on a new environment from the sample, by bare and full names', async () => {
    const events = await one(a, 'SELECT count(*) FROM events');
    assert.ok(Number(events) > 50_000, String(events));
    assert.equal(await one(a, 'SELECT count(*) FROM sample.main.events'), events);
  });

  it('sees a committed table at the next query, ahead of the sample, and joins across catalogs', async () => {
    const duck = await (await DuckDBInstance.create(':memory:')).connect();
    try {
      await store.write(a, 'events', 'replace', async (file) => {
        await duck.run(`COPY (SELECT range AS user_id, 'own' AS event FROM range(1, 11)) TO '${file}' (FORMAT parquet)`);
        return {
          rows: 10,
          columns: [
            { name: 'user_id', type: 'BIGINT' },
            { name: 'event', type: 'VARCHAR' },
          ],
        };
      });
    } finally {
      duck.closeSync();
    }
    assert.equal(await one(a, 'SELECT count(*) FROM events'), 10);
    assert.equal(await one(a, 'SELECT count(*) FROM lakehouse.main.events'), 10);
    const joined = await one(a, 'SELECT count(*) FROM lakehouse.main.events own JOIN sample.main.users u USING (user_id)');
    assert.equal(joined, 10);
  });

  it('answers from a new table at once, although the views the worker had do not know it yet', async () => {
    // The worker starts the statement on its current views while the versions are read: that run fails
    // (no such table), and the answer must come from the run on the new versions.
    assert.equal(await one(a, 'SELECT count(*) FROM events'), 10);
    const duck = await (await DuckDBInstance.create(':memory:')).connect();
    try {
      await store.write(a, 'fresh', 'replace', async (file) => {
        await duck.run(`COPY (SELECT range AS n FROM range(7)) TO '${file}' (FORMAT parquet)`);
        return { rows: 7, columns: [{ name: 'n', type: 'BIGINT' }] };
      });
    } finally {
      duck.closeSync();
    }
    assert.equal(await one(a, 'SELECT count(*) FROM lakehouse.main.fresh'), 7);
    assert.equal(await one(a, 'SELECT sum(n) FROM fresh'), 21);
  });

  it("keeps environments apart: b sees the sample, never a's tables or files", async () => {
    assert.notEqual(await one(b, 'SELECT count(*) FROM events'), 10);
    const error = await engine.query(b, 'SELECT * FROM lakehouse.main.events', QUERY).catch((e: AppError) => e);
    assert.equal((error as AppError).code, 'sql_error');
    const [file] = (await store.tables(a))[0]?.files ?? [];
    const read = await engine.query(b, `SELECT * FROM read_parquet('${file}')`, QUERY).catch((e: AppError) => e);
    assert.equal((read as AppError).code, 'permission_denied', (read as AppError).message);
  });
});

describe('isolation: what environment b can learn or change through every catalog function and statement', () => {
  it("reveals nothing of a's tables, paths or the server's database, and changes nothing", async () => {
    const duck = await (await DuckDBInstance.create(':memory:')).connect();
    try {
      await store.write(a, 'zz_private_orders', 'replace', async (file) => {
        await duck.run(`COPY (SELECT 1 AS order_id) TO '${file}' (FORMAT parquet)`);
        return { rows: 1, columns: [{ name: 'order_id', type: 'INTEGER' }] };
      });
    } finally {
      duck.closeSync();
    }
    assert.equal(await one(a, 'SELECT count(*) FROM zz_private_orders'), 1);
    // a's id (in its folder's path), a's table name, the server's database URL.
    const secrets = [a, 'zz_private_orders', ...(process.env.TEST_PG_URL ? [process.env.TEST_PG_URL] : [])];
    const readers = [
      'SELECT * FROM duckdb_tables()',
      'SELECT * FROM duckdb_views()',
      'SELECT * FROM duckdb_columns()',
      'SELECT * FROM duckdb_databases()',
      'SELECT * FROM duckdb_settings()',
      'SELECT * FROM duckdb_extensions()',
      'SELECT * FROM duckdb_secrets()',
      'SELECT * FROM information_schema.tables',
      'SELECT * FROM information_schema.columns',
      'PRAGMA database_list',
      'PRAGMA show_tables',
      'SHOW ALL TABLES',
      `SELECT * FROM glob('${root}/**')`,
      `SELECT * FROM glob('${store.environmentDir(a)}/*/*/*')`,
      "SELECT * FROM read_text('/etc/passwd')",
      "SELECT * FROM read_text('/proc/self/environ')",
      `SELECT * FROM read_csv('${root}/lakehouse/*/*/*/*.parquet')`,
      `SELECT * FROM read_parquet('${store.environmentDir(a)}/**/*.parquet')`,
      "SELECT getenv('DATABASE_URL')",
      "SELECT current_setting('temp_directory')",
    ];
    for (const sql of readers) {
      const answer = await engine.query(b, sql, { ...QUERY, limit: 10_000 }).then(
        (result) => JSON.stringify(result.rows),
        (error: AppError) => `${error.code}: ${error.message}`,
      );
      for (const secret of secrets) {
        // A query that names a's folder is refused; its error may quote the query, nothing more.
        if (sql.includes(secret)) assert.match(answer, /^permission_denied: /, sql);
        else assert.ok(!answer.includes(secret), `${sql} revealed "${secret}": ${answer.slice(0, 300)}`);
      }
    }
    const writers = [
      `COPY (SELECT 1) TO '${store.environmentDir(b)}/x.csv'`,
      "ATTACH ':memory:' AS extra",
      'DETACH lakehouse',
      'DETACH sample',
      'INSTALL httpfs',
      'LOAD httpfs',
      "SET search_path = 'sample.main'",
      "PRAGMA memory_limit = '8GB'",
      'CREATE TABLE lakehouse.main.t AS SELECT 1',
      'CREATE VIEW events AS SELECT 1',
      'DROP VIEW sample.main.events',
      'CREATE SECRET s (TYPE s3)',
      'CHECKPOINT',
      'USE sample',
    ];
    for (const sql of writers) {
      const error = await engine.query(b, sql, QUERY).then(
        () => undefined,
        (e: AppError) => e,
      );
      assert.ok(error, `${sql} was run`);
      assert.ok(
        ['sql_refused', 'sql_syntax_error', 'sql_error', 'permission_denied'].includes(error.code),
        `${sql}: ${error.code} ${error.message}`,
      );
    }
    assert.ok(!fs.existsSync(path.join(store.environmentDir(b), 'x.csv')));
    assert.ok(Number(await one(b, 'SELECT count(*) FROM events')) > 50_000);
    assert.equal(await one(a, 'SELECT count(*) FROM events'), 10);
  });
});
