import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { importTable } from '../../../src/lakehouse/duckdb/import.js';
import { testLakehouseEnv } from '../../helpers/db.js';
import { runCli, singleJson } from '../cli/run-cli.js';
import { call, callError, SECRET, startLakehouseHarness, type LakehouseHarness } from './harness.js';

// Loading data (REST POST /api/v1/lakehouse/tables/{table}/rows and `admin lakehouse import`) into the
// environment's DuckDB lakehouse: read by DuckDB in a process of its own, written as Parquet and committed
// whole, types inferred on the first load and checked after, malformed input refused with its line; the
// environment's worker only reads it, and no other environment sees it.

let h: LakehouseHarness;
let dir: string;
before(async () => {
  h = await startLakehouseHarness();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lakehouse-load-'));
});
after(async () => {
  await h?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

interface Problem {
  status: number;
  code: string;
  detail: string;
}

async function load(
  table: string,
  body: string | Buffer,
  type = 'text/csv',
  token: string = h.servers.a.tokens.readWrite,
): Promise<{ status: number; body: Record<string, unknown> & Partial<Problem> }> {
  const response = await fetch(`${h.servers.a.url}/api/v1/lakehouse/tables/${table}/rows`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': type },
    body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> & Partial<Problem> };
}

const query = async (text: string) => (await call(h.clients.a, 'query_lakehouse', { sql: text })).rows;
const tableExists = async (table: string) => (await h.lakehouse.store.tables(h.env.a.id)).some((t) => t.name === table);

describe('loading data over REST', () => {
  it('creates the table on the first CSV load with the types of its values, readable by the environment alone', async () => {
    const csv =
      'Order ID,customer,amount,paid,ordered_on,ordered_at,note\n1,ana,12.50,true,2025-01-02,2025-01-02T10:00:00Z,"first, with a comma"\n2,bo,7,false,2025-01-03,2025-01-03 11:30:00+00,\n3,"cy ""the"" third",1e3,TRUE,2025-01-04,2025-01-04T12:00:00Z,"line\nbreak"\n';
    const { status, body } = await load('orders', csv);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.created, true);
    assert.equal(body.rows, 3);
    assert.deepEqual(body.columns, [
      { name: 'order_id', type: 'BIGINT' },
      { name: 'customer', type: 'VARCHAR' },
      { name: 'amount', type: 'DOUBLE' },
      { name: 'paid', type: 'BOOLEAN' },
      { name: 'ordered_on', type: 'DATE' },
      { name: 'ordered_at', type: 'TIMESTAMP WITH TIME ZONE' },
      { name: 'note', type: 'VARCHAR' },
    ]);
    assert.deepEqual(await query('SELECT order_id, customer, amount, paid, ordered_on, ordered_at, note FROM orders ORDER BY order_id'), [
      [1, 'ana', 12.5, true, '2025-01-02', '2025-01-02T10:00:00Z', 'first, with a comma'],
      [2, 'bo', 7, false, '2025-01-03', '2025-01-03T11:30:00Z', null],
      [3, 'cy "the" third', 1000, true, '2025-01-04', '2025-01-04T12:00:00Z', 'line\nbreak'],
    ]);
    assert.deepEqual(await query('SELECT count(*) FROM lakehouse.main.orders'), [[3]]);
    const other = await callError(h.clients.b, 'query_lakehouse', { sql: 'SELECT * FROM orders' });
    assert.match(other.message, /Table with name orders does not exist/);
  });

  it('appends to an existing table as a new version, which the worker sees at once and cannot change', async () => {
    const before = (await h.lakehouse.store.tables(h.env.a.id)).find((t) => t.name === 'orders');
    const { status, body } = await load('orders', 'order_id,customer,amount\n4,di,1.25\n');
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.created, false);
    assert.deepEqual(await query('SELECT count(*), sum(amount) FROM orders'), [[4, 1020.75]]);
    const after = (await h.lakehouse.store.tables(h.env.a.id)).find((t) => t.name === 'orders');
    assert.equal(after?.version, (before?.version ?? 0) + 1);
    assert.equal(after?.files.length, 2);
    for (const write of [
      'DELETE FROM orders',
      'DROP VIEW orders',
      "COPY orders TO 'x.csv'",
      'CREATE TABLE orders2 AS SELECT * FROM orders',
    ]) {
      const error = await callError(h.clients.a, 'query_lakehouse', { sql: write });
      assert.ok(['sql_refused', 'permission_denied'].includes(error.code), `${write}: ${error.code}`);
    }
    assert.deepEqual(await query('SELECT count(*) FROM orders'), [[4]]);
  });

  it('refuses a value that does not fit the existing column, with its line, and loads none of the rows', async () => {
    const { status, body } = await load('orders', 'order_id,amount,paid\n5,1.00,true\n6,2.00,false\n7,lots,true\n8,3.00,false\n');
    assert.equal(status, 400);
    assert.equal(body.code, 'invalid_load');
    assert.match(body.detail ?? '', /^line 4: "lots" is not a valid DOUBLE for column "amount"/);
    assert.deepEqual(await query('SELECT count(*) FROM orders'), [[4]]);
    const unknown = await load('orders', 'order_id,colour\n9,red\n');
    assert.match(unknown.body.detail ?? '', /has no column "colour"/);
  });

  it('refuses malformed CSV with the line number and creates nothing: ragged rows, bad quoting, invalid UTF-8', async () => {
    let r = await load('ragged', 'a,b,c\n1,2,3\n4,5,6\n7,8\n10,11,12\n');
    assert.equal(r.status, 400);
    assert.match(r.body.detail ?? '', /^line 4: the row has 2 fields where the header has 3/);
    r = await load('quoted', 'a,b\n1,"unterminated\n2,3\n');
    assert.equal(r.status, 400);
    assert.match(r.body.detail ?? '', /^line \d+: /);
    const latin1 = Buffer.concat([
      Buffer.from('name,city\nana,Lisbon\nbo,'),
      Buffer.from([0x4d, 0xfc, 0x6e, 0x63, 0x68, 0x65, 0x6e]),
      Buffer.from('\n'),
    ]);
    r = await load('encoding', latin1);
    assert.equal(r.status, 400);
    assert.match(r.body.detail ?? '', /^line 3: the input is not valid UTF-8/);
    r = await load('dupes', 'a,A\n1,2\n');
    assert.match(r.body.detail ?? '', /^line 1: the column "a" appears twice/);
    for (const table of ['ragged', 'quoted', 'encoding', 'dupes']) assert.equal(await tableExists(table), false, table);
  });

  it('loads NDJSON: keys are columns (their union), nested values JSON; a bad line is refused with its number', async () => {
    const ndjson =
      '{"id":1,"event":"signup","props":{"plan":"pro"},"at":"2025-02-01T00:00:00Z"}\n\n{"id":2,"event":"purchase","amount":49.5}\r\n{"id":3,"event":"x","props":[1,2]}';
    const { status, body } = await load('events', ndjson, 'application/x-ndjson');
    assert.equal(status, 200, JSON.stringify(body));
    assert.deepEqual(body.columns, [
      { name: 'id', type: 'BIGINT' },
      { name: 'event', type: 'VARCHAR' },
      { name: 'props', type: 'JSON' },
      { name: 'at', type: 'TIMESTAMP' },
      { name: 'amount', type: 'DOUBLE' },
    ]);
    // The environment's own `events` shadows the sample's for bare names; lakehouse.main names it in full.
    assert.deepEqual(await query('SELECT id, props, amount FROM lakehouse.main.events ORDER BY id'), [
      [1, { plan: 'pro' }, null],
      [2, null, 49.5],
      [3, [1, 2], null],
    ]);
    assert.deepEqual(await query('SELECT count(*) FROM events'), [[3]]);
    assert.ok(Number((await query('SELECT count(*) FROM sample.main.events'))[0]?.[0]) > 1_000_000);
    let r = await load('events', '{"id":4}\n{"id":5,\n', 'application/x-ndjson');
    assert.equal(r.status, 400);
    assert.match(r.body.detail ?? '', /^line 2: not valid JSON/);
    r = await load('events', '{"id":6}\n[7]\n', 'application/x-ndjson');
    assert.match(r.body.detail ?? '', /^line 2: each line must be a JSON object/);
    assert.deepEqual(await query('SELECT count(*) FROM events'), [[3]]);
  });

  it('needs the write scope, a known content type and a valid table name', async () => {
    assert.equal((await load('orders', 'a\n1\n', 'text/csv', h.servers.a.tokens.read)).status, 403);
    assert.equal((await load('orders', '{}', 'application/json')).status, 415);
    const bad = await load('Bad-Name', 'a\n1\n');
    assert.equal(bad.status, 400);
    assert.match(bad.body.detail ?? '', /invalid table name/);
  });

  it('refuses a body over the size limit and loads nothing', async () => {
    const rows = Readable.from([`a,b\n${'1,2\n'.repeat(2_000)}`]);
    await assert.rejects(
      importTable(h.lakehouse.store, h.env.a.id, 'too_big', rows, { format: 'csv', maxBytes: 1_000, tempDir: os.tmpdir() }),
      (error: Error & { status?: number; code?: string }) => {
        assert.equal(error.status, 413);
        assert.equal(error.code, 'payload_too_large');
        return true;
      },
    );
    assert.equal(await tableExists('too_big'), false);
  });
});

describe('admin lakehouse import', () => {
  it('imports a CSV file of 50,000 rows and reports the rate; the server sees the table at once', async () => {
    const file = path.join(dir, 'visits.csv');
    const lines = ['visit_id,user_id,path,visited_at'];
    for (let i = 1; i <= 50_000; i++) lines.push(`${i},${i % 977},/page/${i % 13},2025-03-01T00:00:00Z`);
    await fs.writeFile(file, lines.join('\n') + '\n');
    const result = await runCli(['lakehouse', 'import', 'acme/production', 'visits', file, '--json'], {
      DATABASE_URL: h.database.url,
      SECRET_KEY: SECRET.toString('base64'),
      ...testLakehouseEnv(),
    });
    assert.equal(result.code, 0, result.stderr);
    const loaded = (singleJson(result) as { load: { rows: number; created: boolean; rows_per_second: number } }).load;
    assert.equal(loaded.rows, 50_000);
    assert.equal(loaded.created, true);
    assert.ok(loaded.rows_per_second > 0);
    assert.deepEqual(await query('SELECT count(*), count(DISTINCT user_id), max(visit_id) FROM visits'), [[50_000, 977, 50_000]]);
  });
});
