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
    assert.equal(await one(a, 'SELECT count(*) FROM events'), '10');
    assert.equal(await one(a, 'SELECT count(*) FROM lakehouse.main.events'), '10');
    const joined = await one(a, 'SELECT count(*) FROM lakehouse.main.events own JOIN sample.main.users u USING (user_id)');
    assert.equal(joined, '10');
  });

  it("keeps environments apart: b sees the sample, never a's tables or files", async () => {
    assert.notEqual(await one(b, 'SELECT count(*) FROM events'), '10');
    const error = await engine.query(b, 'SELECT * FROM lakehouse.main.events', QUERY).catch((e: AppError) => e);
    assert.equal((error as AppError).code, 'sql_error');
    const [file] = (await store.tables(a))[0]?.files ?? [];
    const read = await engine.query(b, `SELECT * FROM read_parquet('${file}')`, QUERY).catch((e: AppError) => e);
    assert.equal((read as AppError).code, 'permission_denied', (read as AppError).message);
  });
});
