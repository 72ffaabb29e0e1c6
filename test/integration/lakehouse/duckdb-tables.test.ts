import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { createEnvironment, createOrganization } from '../../../src/db/directory.js';
import { TableStore, type WrittenPart } from '../../../src/lakehouse/duckdb/table-store.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.js';

// The table layer of the DuckDB lakehouse (issue 15, item 2): Parquet files under the data folder, the
// committed set recorded in PostgreSQL, so a write lands whole or not at all and every process sees it.

let database: TestDatabase;
let store: TableStore;
let duck: DuckDBConnection;
let environmentId: string;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'duck-tables-'));

/** A writer of `rows` rows of (id, label), by DuckDB. */
const rowsOf =
  (from: number, count: number, label = "'x'") =>
  async (file: string): Promise<WrittenPart> => {
    await duck.run(`COPY (SELECT range AS id, ${label} AS label FROM range(${from}, ${from + count})) TO '${file}' (FORMAT parquet)`);
    const described = await duck.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${file}')`);
    return { rows: count, columns: described.getRows().map(([name, type]) => ({ name: String(name), type: String(type) })) };
  };

async function count(files: string[]): Promise<number> {
  const result = await duck.runAndReadAll(`SELECT count(*)::INTEGER FROM read_parquet([${files.map((f) => `'${f}'`).join(',')}])`);
  return Number(result.getRows()[0]?.[0]);
}

before(async () => {
  database = await createTestDatabase();
  await createOrganization(database.db, 'acme');
  environmentId = (await createEnvironment(database.db, { organization: 'acme', environment: 'production' })).id;
  store = new TableStore(database.db, root);
  duck = await (await DuckDBInstance.create(':memory:')).connect();
});
after(async () => {
  duck?.closeSync();
  await database?.drop();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('the lakehouse table store', () => {
  it('commits a table, appends to it, and replaces it, one version each', async () => {
    const first = await store.write(environmentId, 'orders', 'replace', rowsOf(0, 100));
    assert.equal(first.version, 1);
    assert.equal(first.rowCount, 100);
    assert.deepEqual(first.columns, [
      { name: 'id', type: 'BIGINT' },
      { name: 'label', type: 'VARCHAR' },
    ]);
    const appended = await store.write(environmentId, 'orders', 'append', rowsOf(100, 50));
    assert.equal(appended.version, 2);
    assert.equal(appended.files.length, 2);
    assert.equal(await count(appended.files), 150);
    const replaced = await store.write(environmentId, 'orders', 'replace', rowsOf(0, 7));
    assert.equal(replaced.version, 3);
    assert.deepEqual(
      (await store.tables(environmentId)).map((t) => [t.name, t.version, t.rowCount]),
      [['orders', 3, 7]],
    );
    assert.ok(replaced.files.every((file) => file.startsWith(store.environmentDir(environmentId))));
  });

  it('lands concurrent appends whole, one after the other', async () => {
    await store.write(environmentId, 'events', 'replace', rowsOf(0, 10));
    await Promise.all([1, 2, 3, 4].map((i) => store.write(environmentId, 'events', 'append', rowsOf(i * 1000, 10))));
    const [events] = (await store.tables(environmentId)).filter((t) => t.name === 'events');
    assert.equal(events?.version, 5);
    assert.equal(events?.rowCount, 50);
    assert.equal(await count(events?.files ?? []), 50);
  });

  it('changes nothing when a write fails or the rows do not fit, and leaves no files behind', async () => {
    const before = await store.tables(environmentId);
    const failing = store.write(environmentId, 'orders', 'replace', async () => {
      throw new Error('the input broke off');
    });
    await assert.rejects(failing, /broke off/);
    const misfit = await store.write(environmentId, 'orders', 'append', rowsOf(0, 5, '42')).catch((error: { code: string }) => error.code);
    assert.equal(misfit, 'invalid_load');
    const bad = await store.write(environmentId, 'Orders; DROP', 'replace', rowsOf(0, 1)).catch((error: { code: string }) => error.code);
    assert.equal(bad, 'invalid_load');
    assert.deepEqual(await store.tables(environmentId), before);
    const dirs = fs.readdirSync(path.join(store.environmentDir(environmentId), 'orders'));
    assert.equal(dirs.length, 3, 'the folders of the three writes that committed, nothing of the failed ones');
  });

  it('sweeps the folders no committed version names, after a grace period', async () => {
    assert.equal(await store.sweep(environmentId, 60_000), 0);
    const removed = await store.sweep(environmentId, 0);
    assert.ok(removed >= 2, String(removed));
    for (const table of await store.tables(environmentId)) assert.equal(await count(table.files), table.rowCount);
  });
});
