import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { sql } from 'kysely';
import { createEnvironment, createOrganization } from '../../../src/db/directory.js';
import { Lakehouse } from '../../../src/lakehouse/lakehouse.js';
import { ResultStore } from '../../../src/lakehouse/results/store.js';
import { toolOutputValidators } from '../../../src/generated/tool-output-validators.js';
import { installId } from '../../../src/lakehouse/provision.js';
import { createTestDatabase, noteInstallId, type TestDatabase } from '../../helpers/db.js';
import { addWarehouse, SECRET } from './harness.js';
import { startTestLakehouse } from '../../helpers/lakehouse.js';
import { callError, connectClient, startMcpTestServer, type McpTestServer } from '../../helpers/mcp.js';

// Full results as files (issue 18, item 1): query_lakehouse's `export` writes the whole result once (csv or
// parquet), the answer stays small and links it (resource_link, uri, url); resources/read and the URL read it
// with a token of the same environment only; expiry removes it; quota, concurrency and size cap refuse.

const MILLION = 'SELECT * FROM sample.main.events LIMIT 1000000';

let database: TestDatabase;
let lakehouse: Lakehouse;
let a: McpTestServer;
let b: McpTestServer;
let clientA: Client;
let clientB: Client;
let duck: DuckDBConnection;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'exports-'));

before(async () => {
  database = await createTestDatabase();
  await createOrganization(database.db, 'acme');
  await createEnvironment(database.db, { organization: 'acme', environment: 'production' });
  await createEnvironment(database.db, { organization: 'acme', environment: 'staging' });
  lakehouse = await startTestLakehouse(database.db, SECRET, { DATA_DIR: dataDir });
  const start = (environment: string) =>
    startMcpTestServer({ database, lakehouse, environment, env: { SECRET_KEY: SECRET.toString('base64'), DATA_DIR: dataDir } });
  a = await start('acme/production');
  b = await start('acme/staging');
  clientA = await connectClient(a.mcpUrl, a.tokens.read);
  clientB = await connectClient(b.mcpUrl, b.tokens.read);
  duck = await (await DuckDBInstance.create(':memory:', { threads: '2' })).connect();
  await duck.run("SET TimeZone = 'UTC'");
});
after(async () => {
  await clientA?.close();
  await clientB?.close();
  await a?.close();
  await b?.close();
  await lakehouse?.close();
  await database?.drop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const one = async (query: string) => (await duck.runAndReadAll(query)).getRows()[0] ?? [];
const quote = (text: string) => `'${text.replace(/'/g, "''")}'`;

interface Exported {
  id: string;
  uri: string;
  url: string;
  format: string;
  rows: number;
  bytes: number;
  expires_at: string;
}

async function exportQuery(client: Client, args: Record<string, unknown>) {
  const result = (await client.callTool({ name: 'query_lakehouse', arguments: args })) as CallToolResult;
  assert.notEqual(result.isError, true, JSON.stringify(result.content).slice(0, 500));
  assert.ok(toolOutputValidators.query_lakehouse(result.structuredContent), JSON.stringify(toolOutputValidators.query_lakehouse.errors));
  const exported = (result.structuredContent as { export?: Exported }).export;
  assert.ok(exported, 'the answer describes the export');
  return { result, exported, bytes: Buffer.byteLength(JSON.stringify(result)) };
}

/** The file on disk of an export of environment a. */
const fileOf = (e: Exported) => path.join(dataDir, 'results', a.environment.id, `${e.id}.${e.format}`);

const get = (url: string, token?: string) => fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });

describe('exports of query_lakehouse', () => {
  let parquet: Exported;
  let csv: Exported;

  it('writes a million rows as parquet: the answer stays small, the file has exactly the query result', async () => {
    const { result, exported, bytes } = await exportQuery(clientA, { sql: MILLION, export: 'parquet', limit: 10 });
    parquet = exported;
    assert.ok(bytes < 16 * 1024, `the answer is ${bytes} bytes`);
    assert.equal(exported.rows, 1_000_000);
    assert.equal(exported.uri, `lakehouse://exports/${exported.id}`);
    assert.equal(exported.url, `${a.url}/api/v1/exports/${exported.id}`);
    const link = result.content.find((c) => c.type === 'resource_link');
    assert.ok(link && link.type === 'resource_link', 'a resource_link content item');
    assert.equal(link.uri, exported.uri);
    assert.equal(link.mimeType, 'application/vnd.apache.parquet');
    assert.equal(link.size, exported.bytes);
    assert.match(link.name, /\.parquet$/);
    const file = fileOf(exported);
    assert.equal(fs.statSync(file).size, exported.bytes);
    // Per column, a sum of hashes: the same statement answered by the server's own engine must agree.
    const checksum = (from: string) => `SELECT count(*)::VARCHAR, sum(hash(COLUMNS(*)))::VARCHAR FROM ${from}`;
    const got = (await one(checksum(`read_parquet(${quote(file)})`))).map(String);
    assert.equal(got[0], '1000000');
    const expected = await lakehouse.query(a.environment.id, 'sample', checksum(`(${MILLION})`), {
      limit: 1,
      offset: 0,
      maxBytes: 1 << 20,
      timeoutMs: 60_000,
    });
    assert.deepEqual(got, (expected.rows[0] ?? []).map(String));
  });

  it('writes a million rows as csv: a header and one line per row, the same values', async () => {
    const { exported, bytes } = await exportQuery(clientA, { sql: MILLION, export: 'csv', limit: 10 });
    csv = exported;
    assert.ok(bytes < 16 * 1024, `the answer is ${bytes} bytes`);
    assert.equal(exported.rows, 1_000_000);
    const file = fileOf(exported);
    const [lines] = await one(
      `SELECT count(*) FROM read_csv(${quote(file)}, header = false, all_varchar = true, columns = {'line': 'VARCHAR'}, delim = '\x01', quote = '', escape = '')`,
    );
    assert.equal(Number(lines), 1_000_001);
    // Every value equal to the parquet export's (same statement), as text.
    const both = (from: string) => `SELECT sum(hash(COLUMNS(*)::VARCHAR))::VARCHAR FROM ${from}`;
    const fromCsv = await one(both(`read_csv(${quote(file)}, header = true)`));
    const fromParquet = await one(both(`read_parquet(${quote(fileOf(parquet))})`));
    assert.deepEqual(fromCsv, fromParquet);
  });

  it('streams the file at its URL with the token, and refuses without it or to another environment', async () => {
    const response = await get(csv.url, a.tokens.read);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/csv; charset=utf-8');
    assert.equal(Number(response.headers.get('content-length')), csv.bytes);
    assert.match(response.headers.get('content-disposition') ?? '', /attachment; filename="result-.*\.csv"/);
    let received = 0;
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) received += chunk.length;
    assert.equal(received, csv.bytes);
    assert.equal((await get(csv.url)).status, 401);
    // Environment b's token, on b's own server (the same store): not found.
    const other = await get(`${b.url}/api/v1/exports/${csv.id}`, b.tokens.read);
    assert.equal(other.status, 404);
    assert.equal((await get(`${a.url}/api/v1/exports/not-a-uuid`, a.tokens.read)).status, 404);
    assert.equal((await get(`${a.url}/api/v1/exports/..%2F..%2Fsecret-key`, a.tokens.read)).status, 404);
  });

  it('reads it with resources/read: large ones point to the URL, small ones inline; another environment gets not found', async () => {
    const big = await clientA.readResource({ uri: csv.uri });
    const content = big.contents[0] as { text?: string; mimeType?: string };
    assert.equal(content.mimeType, 'text/plain');
    assert.ok(content.text?.includes(csv.url), content.text);
    const small = await exportQuery(clientA, { sql: "SELECT 1 AS n, 'a,b' AS s UNION ALL SELECT 2, NULL ORDER BY n", export: 'csv' });
    const inline = await clientA.readResource({ uri: small.exported.uri });
    assert.deepEqual(inline.contents[0], { uri: small.exported.uri, mimeType: 'text/csv; charset=utf-8', text: 'n,s\n1,"a,b"\n2,\n' });
    const pq = await exportQuery(clientA, { sql: 'SELECT 42 AS answer', export: 'parquet' });
    const blob = (await clientA.readResource({ uri: pq.exported.uri })).contents[0] as { blob?: string };
    assert.equal(
      Buffer.from(blob.blob ?? '', 'base64')
        .subarray(0, 4)
        .toString(),
      'PAR1',
    );
    await assert.rejects(clientB.readResource({ uri: small.exported.uri }), /Resource not found/);
  });

  it('exports query_semantic_model past its limit, with its bound values', async () => {
    const result = (await clientA.callTool({
      name: 'query_semantic_model',
      arguments: {
        model: 'product_events',
        measures: ['events'],
        dimensions: ['user_id'],
        filters: [{ field: 'event', op: 'eq', value: 'signup' }],
        limit: 3,
        export: 'csv',
      },
    })) as CallToolResult;
    assert.notEqual(result.isError, true, JSON.stringify(result.content).slice(0, 500));
    const output = result.structuredContent as { rows: unknown[][]; truncated: boolean; export: Exported };
    assert.equal(output.truncated, true);
    assert.equal(output.rows.length, 3);
    const [expected] = await one(
      `SELECT count(DISTINCT user_id) FROM read_parquet(${quote(lakehouse.sample.files.events ?? '')}) WHERE event = 'signup'`,
    );
    assert.equal(output.export.rows, Number(expected));
    assert.ok(output.export.rows > 3);
    const lines = fs.readFileSync(fileOf(output.export), 'utf8').trimEnd().split('\n');
    assert.equal(lines[0], 'user_id,events');
    assert.equal(lines.length, output.export.rows + 1);
    assert.ok(result.content.some((c) => c.type === 'resource_link' && c.uri === output.export.uri));
  });

  it('exports csv from an external PostgreSQL connection, streamed row by row; parquet is refused', async () => {
    const install = await installId(database.db);
    noteInstallId(database.name, install);
    const warehouse = await addWarehouse(database, install, a.environment.id, 'exp');
    await sql
      .raw(
        `CREATE TABLE ${warehouse.schema}.orders AS SELECT g AS id, CASE WHEN g % 3 = 0 THEN NULL ELSE 'item "' || g || '", big' END AS note, g * 1.5 AS amount FROM generate_series(1, 5000) g`,
      )
      .execute(database.db);
    await sql.raw(`GRANT SELECT ON ${warehouse.schema}.orders TO ${warehouse.role}`).execute(database.db);
    const { exported } = await exportQuery(clientA, {
      connection: 'warehouse',
      sql: 'SELECT * FROM orders ORDER BY id',
      export: 'csv',
      limit: 2,
    });
    assert.equal(exported.rows, 5000);
    const lines = fs.readFileSync(fileOf(exported), 'utf8').split('\n');
    assert.deepEqual(lines.slice(0, 4), ['id,note,amount', '1,"item ""1"", big",1.5', '2,"item ""2"", big",3.0', '3,,4.5']);
    assert.equal(lines.length, 5002);
    // A job on such a connection keeps its result as this CSV, and view_query_job pages it back like this.
    const stored = await lakehouse.results.find(a.environment.id, exported.id);
    assert.ok(stored);
    const page = await lakehouse.readResult(a.environment.id, stored, { offset: 1, limit: 2, maxBytes: 1_000_000, timeoutMs: 10_000 });
    assert.deepEqual(page.rows, [
      [2, 'item "2", big', 3],
      [3, null, 4.5],
    ]);
    const parquet = await callError(clientA, 'query_lakehouse', { connection: 'warehouse', sql: 'SELECT 1', export: 'parquet' });
    assert.equal(parquet.code, 'validation_failed');
  });

  it('says how to get every row when an answer is truncated without export', async () => {
    const result = (await clientA.callTool({
      name: 'query_lakehouse',
      arguments: { sql: 'SELECT * FROM range(50)', limit: 5 },
    })) as CallToolResult;
    const text = result.content.find((c) => c.type === 'text');
    assert.ok(text?.type === 'text' && text.text.includes('export: "csv"'), JSON.stringify(text));
  });

  it('removes an expired export: not found at once, file and row gone at the sweep', async () => {
    const { exported } = await exportQuery(clientA, { sql: 'SELECT * FROM range(10)', export: 'csv' });
    const file = fileOf(exported);
    assert.ok(fs.existsSync(file));
    // The clock, moved: the row expired a second ago.
    await database.db
      .updateTable('result_files')
      .set({ expires_at: sql<Date>`now() - interval '1 second'`, created_at: sql<Date>`now() - interval '1 hour'` })
      .where('id', '=', exported.id)
      .execute();
    assert.equal((await get(exported.url, a.tokens.read)).status, 404);
    await assert.rejects(clientA.readResource({ uri: exported.uri }), /Resource not found/);
    assert.ok((await lakehouse.results.sweep()) >= 1);
    assert.equal(fs.existsSync(file), false);
    const row = await database.db.selectFrom('result_files').select('id').where('id', '=', exported.id).executeTakeFirst();
    assert.equal(row, undefined);
  });

  it('refuses hostile input: a path as format, a write, a statement that escapes the wrapper; nothing written', async () => {
    const before = fs.readdirSync(path.join(dataDir, 'results', a.environment.id)).length;
    assert.equal((await callError(clientA, 'query_lakehouse', { sql: 'SELECT 1', export: '/etc/passwd' })).code, 'validation_failed');
    assert.equal((await callError(clientA, 'query_lakehouse', { sql: 'SELECT 1', export: 'json' })).code, 'validation_failed');
    const copy = await callError(clientA, 'query_lakehouse', { sql: `COPY (SELECT 1) TO '${dataDir}/x.csv'`, export: 'csv' });
    assert.equal(copy.code, 'sql_refused');
    const escape = await callError(clientA, 'query_lakehouse', { sql: `SELECT 1) TO '${dataDir}/x.csv' (FORMAT csv); --`, export: 'csv' });
    assert.notEqual(escape.code, '');
    assert.equal(fs.existsSync(path.join(dataDir, 'x.csv')), false);
    assert.equal(fs.readdirSync(path.join(dataDir, 'results', a.environment.id)).length, before);
  });
});

describe('limits of result files', () => {
  /** A lakehouse on the same engine whose result store has the given limits, and a server of environment a on it. */
  async function limited(settings: Partial<ResultStore['settings']>) {
    const store = new ResultStore(database.db, path.join(dataDir, 'results'), { ...lakehouse.results.settings, ...settings });
    const house = new Lakehouse(lakehouse.engine, lakehouse.store, lakehouse.postgres, lakehouse.sample, store);
    const server = await startMcpTestServer({
      database,
      lakehouse: house,
      environment: 'acme/production',
      env: { SECRET_KEY: SECRET.toString('base64'), DATA_DIR: dataDir },
    });
    const client = await connectClient(server.mcpUrl, server.tokens.read);
    return { store, client, close: async () => (await client.close(), await server.close()) };
  }

  it('stops at the size cap: export_too_large, the partial file and its row removed', async () => {
    const { client, close } = await limited({ maxBytes: 256 * 1024 });
    try {
      const rowsBefore = await database.db
        .selectFrom('result_files')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      const filesBefore = fs.readdirSync(path.join(dataDir, 'results', a.environment.id)).length;
      const error = await callError(client, 'query_lakehouse', { sql: MILLION, export: 'csv' });
      assert.equal(error.code, 'export_too_large');
      assert.match(error.message, /EXPORT_MAX_BYTES/);
      const rowsAfter = await database.db
        .selectFrom('result_files')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      assert.equal(Number(rowsAfter.n), Number(rowsBefore.n));
      assert.equal(fs.readdirSync(path.join(dataDir, 'results', a.environment.id)).length, filesBefore);
    } finally {
      await close();
    }
  });

  it('refuses over the quota, saying when the oldest result expires, and writes nothing', async () => {
    const used = await lakehouse.results.usage(a.environment.id);
    const { client, close } = await limited({ quotaBytes: used.bytes });
    try {
      const error = await callError(client, 'query_lakehouse', { sql: 'SELECT 1', export: 'csv' });
      assert.equal(error.code, 'export_quota_exceeded');
      assert.match(error.message, /RESULT_QUOTA_BYTES.*the oldest expires at \d{4}-/);
      assert.deepEqual(await lakehouse.results.usage(a.environment.id), used);
    } finally {
      await close();
    }
  });

  it('refuses more concurrent writes than EXPORT_CONCURRENCY_PER_ENV, saying what to wait for', async () => {
    const { store, client, close } = await limited({ concurrencyPerEnv: 1 });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const writing = new Promise<void>((resolve) => (started = resolve));
    try {
      const first = store.write(a.environment.id, { kind: 'job', format: 'csv' }, async (file) => {
        started();
        await held;
        fs.writeFileSync(file, 'n\n1\n');
        return { rows: 1 };
      });
      await writing;
      const error = await callError(client, 'query_lakehouse', { sql: 'SELECT 1', export: 'csv' });
      assert.equal(error.code, 'too_many_exports');
      assert.match(error.message, /EXPORT_CONCURRENCY_PER_ENV.*Wait for one to finish/);
      release();
      const job = await first;
      assert.equal(job.kind, 'job');
      const page = await lakehouse.readResult(a.environment.id, job, { offset: 0, limit: 10, maxBytes: 1 << 20, timeoutMs: 10_000 });
      assert.deepEqual(page.rows, [[1]]);
    } finally {
      release();
      await close();
    }
  });
});
