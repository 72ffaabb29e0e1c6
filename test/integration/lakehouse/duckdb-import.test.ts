import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { createEnvironment, createOrganization } from '../../../src/db/directory.js';
import { AppError } from '../../../src/errors.js';
import { importTable, type ImportOptions, type ImportResult } from '../../../src/lakehouse/duckdb/import.js';
import { TableStore } from '../../../src/lakehouse/duckdb/table-store.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.js';

// Importing into the DuckDB lakehouse (src/lakehouse/duckdb/import.ts): the upload spooled, converted to
// Parquet by DuckDB in a child process that holds no secrets, committed by the TableStore as one version; all
// rows or none; malformed input refused with its line as users count it. The cases of load.test.ts (the
// PostgreSQL loader this replaces) hold here too.

let database: TestDatabase;
let store: TableStore;
let duck: DuckDBConnection;
let environmentId: string;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'duck-import-'));
const tempDir = path.join(root, 'tmp');

before(async () => {
  database = await createTestDatabase();
  await createOrganization(database.db, 'acme');
  environmentId = (await createEnvironment(database.db, { organization: 'acme', environment: 'production' })).id;
  store = new TableStore(database.db, path.join(root, 'lakehouse'));
  duck = await (await DuckDBInstance.create(':memory:')).connect();
  await duck.run("SET TimeZone = 'UTC'");
});
after(async () => {
  duck?.closeSync();
  await database?.drop();
  fs.rmSync(root, { recursive: true, force: true });
});

const run = (table: string, body: string | Buffer, options: Partial<ImportOptions> = {}): Promise<ImportResult> =>
  importTable(store, environmentId, table, Readable.from([typeof body === 'string' ? Buffer.from(body) : body]), {
    format: 'csv',
    maxBytes: 10 * 1024 * 1024,
    tempDir,
    threads: 2,
    ...options,
  });

async function refusal(table: string, body: string | Buffer, options: Partial<ImportOptions> = {}): Promise<AppError> {
  try {
    await run(table, body, options);
  } catch (error) {
    assert.ok(error instanceof AppError, String(error));
    return error;
  }
  assert.fail(`not refused: ${table}`);
}

const tableOf = async (name: string) => (await store.tables(environmentId)).find((t) => t.name === name);

/** The rows of a committed table, read back from its Parquet files with DuckDB (JSON-shaped values). */
async function rowsOf(name: string, columns: string, order = '1'): Promise<unknown[][]> {
  const files = (await tableOf(name))?.files ?? [];
  assert.ok(files.length > 0, `no files for ${name}`);
  const result = await duck.runAndReadAll(
    `SELECT ${columns} FROM read_parquet([${files.map((f) => `'${f}'`).join(', ')}]) ORDER BY ${order}`,
  );
  return result.getRowsJson();
}

/** The folders under the table's directory: a failed import leaves none of its own. */
const foldersOf = (name: string) => {
  const dir = path.join(store.environmentDir(environmentId), name);
  return fs.existsSync(dir) ? fs.readdirSync(dir).length : 0;
};

describe('importing CSV into the DuckDB lakehouse', () => {
  it('creates a table with the types of its values, and its Parquet reads back equal', async () => {
    const csv =
      'Order ID,customer,amount,paid,ordered_on,ordered_at,note\n1,ana,12.50,true,2025-01-02,2025-01-02T10:00:00Z,"first, with a comma"\n2,bo,7,false,2025-01-03,2025-01-03 11:30:00+00,\n3,"cy ""the"" third",1e3,TRUE,2025-01-04,2025-01-04T12:00:00Z,"line\nbreak"\n';
    const progress: [number, number][] = [];
    const result = await run('orders', csv, { onProgress: (bytes, rows) => progress.push([bytes, rows]) });
    assert.equal(result.created, true);
    assert.equal(result.rows, 3);
    assert.equal(result.table, 'orders');
    assert.ok(result.elapsed_ms >= 0);
    assert.deepEqual(result.columns, [
      { name: 'order_id', type: 'BIGINT' },
      { name: 'customer', type: 'VARCHAR' },
      { name: 'amount', type: 'DOUBLE' },
      { name: 'paid', type: 'BOOLEAN' },
      { name: 'ordered_on', type: 'DATE' },
      { name: 'ordered_at', type: 'TIMESTAMP WITH TIME ZONE' },
      { name: 'note', type: 'VARCHAR' },
    ]);
    assert.deepEqual(progress.at(-1), [Buffer.byteLength(csv), 3]);
    assert.deepEqual(await rowsOf('orders', 'order_id, customer, amount, paid, ordered_on, ordered_at::VARCHAR, note'), [
      ['1', 'ana', 12.5, true, '2025-01-02', '2025-01-02 10:00:00+00', 'first, with a comma'],
      ['2', 'bo', 7, false, '2025-01-03', '2025-01-03 11:30:00+00', null],
      ['3', 'cy "the" third', 1000, true, '2025-01-04', '2025-01-04 12:00:00+00', 'line\nbreak'],
    ]);
    const stored = await tableOf('orders');
    assert.equal(stored?.rowCount, 3);
    assert.deepEqual(stored?.columns, result.columns);
  });

  it('appends with the columns of the table, in its order and types, a missing column NULL', async () => {
    const result = await run('orders', 'customer,order_id,amount\ndi,4,1.25\n');
    assert.equal(result.created, false);
    assert.equal(result.rows, 1);
    assert.deepEqual(
      result.columns.map((c) => c.name),
      ['order_id', 'customer', 'amount', 'paid', 'ordered_on', 'ordered_at', 'note'],
    );
    assert.deepEqual(await rowsOf('orders', 'count(*)::INTEGER, sum(amount), count(paid)::INTEGER', '1'), [[4, 1020.75, 3]]);
    assert.equal((await tableOf('orders'))?.version, 2);
  });

  it('refuses a value that does not fit the existing column with its line and column, and commits nothing', async () => {
    const before = await tableOf('orders');
    const folders = foldersOf('orders');
    const error = await refusal('orders', 'order_id,amount,paid\n5,1.00,true\n6,2.00,false\n7,lots,true\n8,3.00,false\n');
    assert.equal(error.code, 'invalid_load');
    assert.match(error.message, /^line 4: "lots" is not a valid DOUBLE for column "amount"/);
    // Past a quoted line break, the line is still the one users count.
    const later = await refusal('orders', 'order_id,note\n5,"two\nlines"\n6,ok\nx,bad\n');
    assert.match(later.message, /^line 5: "x" is not a valid BIGINT for column "order_id"/);
    const unknown = await refusal('orders', 'order_id,colour\n9,red\n');
    assert.match(unknown.message, /the table "orders" has no column "colour"; its columns: order_id, customer, amount, paid/);
    assert.deepEqual(await tableOf('orders'), before);
    assert.equal(foldersOf('orders'), folders);
  });

  it('widens a column when a value past the sniffer sample does not fit its type', async () => {
    const lines = ['id,n'];
    for (let i = 0; i < 30_000; i++) lines.push(`${i},${i}`);
    lines.push('30000,2.5', '30001,many');
    const result = await run('widened', `${lines.join('\n')}\n`);
    assert.deepEqual(result.columns, [
      { name: 'id', type: 'BIGINT' },
      { name: 'n', type: 'VARCHAR' },
    ]);
    assert.equal(result.rows, 30_002);
    assert.deepEqual(await rowsOf('widened', 'n', 'id DESC LIMIT 2'), [['many'], ['2.5']]);
  });

  it('refuses malformed CSV with the line number and creates nothing: ragged rows, bad quoting, invalid UTF-8', async () => {
    let error = await refusal('ragged', 'a,b,c\n1,2,3\n4,5,6\n7,8\n10,11,12\n');
    assert.equal(error.code, 'invalid_load');
    assert.match(error.message, /^line 4: the row has 2 fields where the header has 3/);
    error = await refusal('ragged', 'a,b,c\n1,"x\ny",3\n\n4,5,6\n7,8,9,10\n');
    assert.match(error.message, /^line 6: the row has 4 fields where the header has 3/);
    // Ragged far past the sniffer's sample, in a file read in parallel.
    const lines = ['a,b,c'];
    for (let i = 0; i < 200_000; i++) lines.push(i % 1000 === 7 ? `${i},"x\ny",${i}` : `${i},y,${i}`);
    lines.push('1,2');
    error = await refusal('ragged', `${lines.join('\n')}\n`);
    assert.match(error.message, /^line 200202: the row has 2 fields where the header has 3/);
    error = await refusal('quoted', 'a,b\n1,"unterminated\n2,3\n');
    assert.match(error.message, /^line 2: a quoted value is not closed/);
    error = await refusal('quoted', 'a,b\n1,2\n3,"x"y\n4,5\n');
    assert.match(error.message, /^line 3: a quoted value is not closed/);
    const latin1 = Buffer.concat([
      Buffer.from('name,city\nana,Lisbon\nbo,'),
      Buffer.from([0x4d, 0xfc, 0x6e, 0x63, 0x68, 0x65, 0x6e]),
      Buffer.from('\n'),
    ]);
    error = await refusal('encoding', latin1);
    assert.match(error.message, /^line 3: the input is not valid UTF-8/);
    error = await refusal('dupes', 'a,A\n1,2\n');
    assert.match(error.message, /^line 1: the column "a" appears twice/);
    error = await refusal('empty', '');
    assert.match(error.message, /the CSV is empty/);
    const names = (await store.tables(environmentId)).map((t) => t.name);
    for (const table of ['ragged', 'quoted', 'encoding', 'dupes', 'empty']) {
      assert.ok(!names.includes(table), table);
      assert.equal(foldersOf(table), 0, table);
    }
    assert.match((await refusal('Bad-Name', 'a\n1\n')).message, /invalid table name/);
  });
});

describe('importing NDJSON and Parquet', () => {
  it('takes the union of the keys as columns, nested values as JSON; a bad line is refused with its number', async () => {
    const ndjson =
      '{"id":1,"event":"signup","props":{"plan":"pro"},"at":"2025-02-01T00:00:00Z"}\n\n{"id":2,"event":"purchase","amount":49.5}\r\n{"id":3,"event":"x","props":[1,2]}';
    const result = await run('events', ndjson, { format: 'ndjson' });
    assert.equal(result.created, true);
    assert.equal(result.rows, 3);
    assert.deepEqual(result.columns, [
      { name: 'id', type: 'BIGINT' },
      { name: 'event', type: 'VARCHAR' },
      { name: 'props', type: 'JSON' },
      { name: 'at', type: 'TIMESTAMP' },
      { name: 'amount', type: 'DOUBLE' },
    ]);
    assert.deepEqual(await rowsOf('events', 'id, props::VARCHAR, amount'), [
      ['1', '{"plan":"pro"}', null],
      ['2', null, 49.5],
      ['3', '[1,2]', null],
    ]);
    let error = await refusal('events', '{"id":4}\n{"id":5,\n', { format: 'ndjson' });
    assert.match(error.message, /^line 2: not valid JSON/);
    error = await refusal('events', '{"id":6}\n\n\n{"id": 7, "x": tru}\n', { format: 'ndjson' });
    assert.match(error.message, /^line 4: not valid JSON/);
    error = await refusal('events', '{"id":6}\n[7]\n', { format: 'ndjson' });
    assert.match(error.message, /^line 2: each line must be a JSON object/);
    error = await refusal('events', Buffer.concat([Buffer.from('{"id":8}\n{"event":"M'), Buffer.from([0xfc]), Buffer.from('"}\n')]), {
      format: 'ndjson',
    });
    assert.match(error.message, /^line 2: the input is not valid UTF-8/);
    error = await refusal('events', '{"id":9}\n{"id":10}\n{"id":"eleven"}\n', { format: 'ndjson' });
    assert.match(error.message, /^line 3: "eleven" is not a valid BIGINT for column "id"/);
    error = await refusal('events', '{"id":9,"colour":"red"}\n', { format: 'ndjson' });
    assert.match(error.message, /has no column "colour"/);
    assert.equal((await tableOf('events'))?.rowCount, 3);
    assert.equal((await run('events', '{"id":12,"props":{"a":[1]}}\n', { format: 'ndjson' })).created, false);
    assert.deepEqual(await rowsOf('events', 'id, props::VARCHAR', 'id DESC LIMIT 1'), [['12', '{"a":[1]}']]);
  });

  it('imports Parquet, nested columns as JSON, names normalized', async () => {
    const file = path.join(root, 'input.parquet');
    await duck.run(
      `COPY (SELECT range AS "User ID", 'u' || range AS name, {'a': range} AS "Attrs" FROM range(5)) TO '${file}' (FORMAT parquet)`,
    );
    const result = await importTable(store, environmentId, 'from_parquet', fs.createReadStream(file), {
      format: 'parquet',
      maxBytes: 1024 * 1024,
      tempDir,
    });
    assert.deepEqual(result.columns, [
      { name: 'user_id', type: 'BIGINT' },
      { name: 'name', type: 'VARCHAR' },
      { name: 'attrs', type: 'JSON' },
    ]);
    assert.equal(result.rows, 5);
    assert.deepEqual(await rowsOf('from_parquet', 'user_id, name, attrs::VARCHAR', '1 DESC LIMIT 1'), [['4', 'u4', '{"a":4}']]);
    const error = await refusal('from_parquet', 'not a parquet file at all', { format: 'parquet' });
    assert.match(error.message, /not a Parquet file/);
  });
});

describe('the limits of an import', () => {
  it('refuses a body over maxBytes, commits nothing and leaves no spool', async () => {
    const error = await refusal('too_big', `a,b\n${'1,2\n'.repeat(2_000)}`, { maxBytes: 1_000 });
    assert.equal(error.code, 'payload_too_large');
    assert.equal(error.status, 413);
    assert.equal(await tableOf('too_big'), undefined);
    assert.deepEqual(fs.readdirSync(tempDir), []);
  });

  it('stops on abort while the body arrives: cancelled, the child killed, nothing committed, no spool', async () => {
    const body = new PassThrough();
    const controller = new AbortController();
    const importing = importTable(store, environmentId, 'aborted', body, {
      format: 'csv',
      maxBytes: 1e9,
      tempDir,
      signal: controller.signal,
    });
    body.write('a,b\n1,2\n');
    const child = await waitForChild();
    controller.abort();
    const error = await importing.catch((e: unknown) => e);
    assert.ok(error instanceof AppError && error.code === 'cancelled', String(error));
    assert.equal(await tableOf('aborted'), undefined);
    assert.deepEqual(fs.readdirSync(tempDir), []);
    assert.equal(fs.existsSync(`/proc/${child}`), false, 'the import process is gone');
  });

  it('runs the conversion in a process with an empty environment and a high out-of-memory score', async () => {
    process.env.SECRET_KEY ??= 'a secret of the serving process';
    const body = new PassThrough();
    const importing = importTable(store, environmentId, 'isolated', body, { format: 'csv', maxBytes: 1e9, tempDir });
    body.write('a,b\n1,2\n');
    const child = await waitForChild();
    const names = fs
      .readFileSync(`/proc/${child}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((entry) => entry.split('=')[0]);
    assert.ok(process.env.SECRET_KEY && process.env.DATABASE_URL !== '', 'this process has secrets to leak');
    assert.deepEqual(
      names.filter((name) => !name?.startsWith('NODE_CHANNEL_')),
      [],
    );
    assert.equal(fs.readFileSync(`/proc/${child}/oom_score_adj`, 'utf8').trim(), '1000');
    body.end('3,4\n');
    assert.equal((await importing).rows, 2);
  });

  it('answers out_of_memory when the import process passes its hard memory bound, and commits nothing', async () => {
    const lines = ['a,b'];
    for (let i = 0; i < 50_000; i++) lines.push(`${i},${'x'.repeat(50)}`);
    const error = await refusal('greedy', lines.join('\n'), { hardMemoryMb: 40 });
    assert.equal(error.code, 'out_of_memory', error.message);
    assert.equal(await tableOf('greedy'), undefined);
  });
});

/** The pid of this process's import child (from /proc), once it is running. */
async function waitForChild(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === process.pid && fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('import-main')) return Number(entry);
      } catch {
        // Gone meanwhile.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.fail('no import process');
}
