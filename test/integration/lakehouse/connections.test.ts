import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { withDatabase } from '../../../src/db/database.js';
import { addConnection } from '../../../src/lakehouse/connections.js';
import { testServerUrl } from '../../helpers/db.js';
import { runCli, singleJson } from '../cli/run-cli.js';
import { call, callError, SECRET, sessionHolds, startLakehouseHarness, type LakehouseHarness } from './harness.js';

// External connections (`admin connection add`): a second database on the test cluster, read through a
// read-only user made for it; the URL stored sealed; connectivity checked when added; queried through
// query_lakehouse under the sandbox's rules (read-only transaction, one statement, timeout, caps).

let h: LakehouseHarness;
const suffix = randomBytes(4).toString('hex');
const database = `ext_${suffix}`;
const user = `ext_reader_${suffix}`;
const password = `pw-${randomBytes(12).toString('hex')}`;
let url: string;

async function superuser<T>(target: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: target });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

before(async () => {
  h = await startLakehouseHarness();
  await superuser(testServerUrl(), async (c) => {
    await c.query(`CREATE DATABASE ${database}`);
    await c.query(`CREATE ROLE ${user} LOGIN PASSWORD '${password}'`);
  });
  await superuser(withDatabase(testServerUrl(), database), async (c) => {
    await c.query(`CREATE TABLE orders (order_id bigint PRIMARY KEY, customer text NOT NULL, amount numeric(10,2) NOT NULL)`);
    await c.query(`INSERT INTO orders SELECT i, 'customer ' || (i % 7), i * 1.5 FROM generate_series(1, 1000) AS i`);
    // A function that writes, callable by the reader: only the READ ONLY transaction stops it.
    await c.query(`CREATE TABLE scratch (note text)`);
    await c.query(`CREATE FUNCTION write_note() RETURNS int LANGUAGE sql AS $$ INSERT INTO scratch VALUES ('written'); SELECT 1 $$`);
    await c.query(`GRANT SELECT ON orders TO ${user}`);
    await c.query(`GRANT INSERT ON scratch TO ${user}`);
  });
  const parsed = new URL(withDatabase(testServerUrl(), database));
  parsed.username = user;
  parsed.password = password;
  url = parsed.href;
});

after(async () => {
  await h?.close();
  await superuser(testServerUrl(), async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await c.query(`DROP ROLE IF EXISTS ${user}`);
  }).catch(() => undefined);
});

const stored = async () =>
  (
    await sql<{
      name: string;
      sealed_url: string;
      display_url: string;
    }>`SELECT name, sealed_url, display_url FROM connections ORDER BY name`.execute(h.database.db)
  ).rows;

describe('external connections: admin connection add', () => {
  it('adds a database with a read-only user from the CLI, its credentials sealed at rest', async () => {
    const result = await runCli(['connection', 'add', 'acme/production', 'warehouse', '--postgres-url', url, '--json'], {
      DATABASE_URL: h.database.url,
      SECRET_KEY: SECRET.toString('base64'),
    });
    assert.equal(result.code, 0, result.stderr);
    const added = singleJson(result).connection as { name: string; url: string; server_version: string };
    assert.equal(added.name, 'warehouse');
    assert.ok(!added.url.includes(password), 'the printed URL hides the password');
    assert.match(added.server_version, /^\d+/);
    const [row] = await stored();
    assert.equal(row?.name, 'warehouse');
    assert.notEqual(row?.sealed_url, url);
    assert.ok(
      !row?.sealed_url.includes(password) && !row?.sealed_url.includes(user),
      'neither the password nor the user is readable in the stored value',
    );
    assert.match(row?.sealed_url ?? '', /^v1\./);
    assert.ok(!row?.display_url.includes(password));
  });

  it('refuses a URL that does not connect (wrong password, no such database, not postgres://) and stores nothing', async () => {
    const env = h.env.a.id;
    const wrong = new URL(url);
    wrong.password = 'not-the-password';
    await assert.rejects(
      addConnection(h.database.db, SECRET, env, 'bad_password', wrong.href),
      /cannot connect to .*password authentication failed/,
    );
    assert.ok(!(await stored()).some((r) => r.name === 'bad_password'));
    await assert.rejects(
      addConnection(h.database.db, SECRET, env, 'bad_database', withDatabase(url, 'no_such_database_here')),
      /cannot connect to .*does not exist/,
    );
    await assert.rejects(
      addConnection(h.database.db, SECRET, env, 'bad_scheme', url.replace(/^postgres(ql)?:/, 'mysql:')),
      /must start with postgres:\/\//,
    );
    await assert.rejects(addConnection(h.database.db, SECRET, env, 'sample', url), /built in/);
    await assert.rejects(addConnection(h.database.db, SECRET, env, 'warehouse', url), /already exists/);
    assert.deepEqual(
      (await stored()).map((r) => r.name),
      ['warehouse'],
    );
  });
});

describe('external connections: queried under the sandbox rules', () => {
  it('answers query_lakehouse with connection: warehouse, listed without its password', async () => {
    const result = await call(h.clients.a, 'query_lakehouse', { connection: 'warehouse', sql: 'SELECT count(*), sum(amount) FROM orders' });
    assert.deepEqual(result.rows, [['1000', '750750.00']]);
    const list = await call(h.clients.a, 'list_connections', {});
    const warehouse = list.items.find((c) => c.name === 'warehouse');
    assert.equal(warehouse?.kind, 'postgres');
    assert.ok(!warehouse?.description.includes(password));
    const described = await call(h.clients.a, 'get_connection', { name: 'warehouse' });
    assert.deepEqual(
      described.schemas.flatMap((s) => s.tables.map((t) => t.name)),
      ['orders'],
    );
    assert.equal((await sessionHolds(h.clients.a, (holds) => holds.connections === 3)).connections, 3);
  });

  it('is not seen by another environment', async () => {
    assert.equal((await callError(h.clients.b, 'query_lakehouse', { connection: 'warehouse', sql: 'SELECT 1' })).code, 'not_found');
    assert.equal((await sessionHolds(h.clients.b, (holds) => holds.connections === 2)).connections, 2);
  });

  it('runs in a READ ONLY transaction: a write the user may do is refused, and nothing is written', async () => {
    // The guard refuses a function it does not know (user-defined ones included); READ ONLY is the line behind it.
    const e = await callError(h.clients.a, 'query_lakehouse', { connection: 'warehouse', sql: 'SELECT write_note()' });
    assert.equal(e.code, 'sql_refused');
    const below = await h.lakehouse.postgres
      .withSandbox(h.env.a.id, 'warehouse', { timeoutMs: 5_000 }, (client) => client.query('SELECT write_note()'))
      .then(
        () => 'ran',
        (error: { code?: string }) => error.code,
      );
    assert.equal(below, 'read_only');
    const notes = await superuser(withDatabase(testServerUrl(), database), (c) =>
      c.query<{ n: number }>('SELECT count(*)::int AS n FROM scratch'),
    );
    assert.equal(notes.rows[0]?.n, 0);
  });

  it('takes one read statement only, and the table is still there', async () => {
    assert.equal(
      (await callError(h.clients.a, 'query_lakehouse', { connection: 'warehouse', sql: 'SELECT 1; DROP TABLE orders' })).code,
      'sql_refused',
    );
    assert.equal(
      (await callError(h.clients.a, 'query_lakehouse', { connection: 'warehouse', sql: "INSERT INTO scratch VALUES ('x')" })).code,
      'sql_refused',
    );
    const result = await call(h.clients.a, 'query_lakehouse', { connection: 'warehouse', sql: 'SELECT count(*) FROM orders' });
    assert.deepEqual(result.rows, [['1000']]);
  });

  it('cancels a statement past its timeout and caps the rows', async () => {
    const started = Date.now();
    const e = await callError(h.clients.a, 'query_lakehouse', { connection: 'warehouse', sql: 'SELECT pg_sleep(10)', timeout_ms: 300 });
    assert.equal(e.code, 'query_timeout');
    assert.ok(Date.now() - started < 5_000, 'cancelled on time');
    const capped = await call(h.clients.a, 'query_lakehouse', {
      connection: 'warehouse',
      sql: 'SELECT order_id FROM orders ORDER BY order_id',
      limit: 10,
    });
    assert.equal(capped.row_count, 10);
    assert.equal(capped.truncated, true);
    assert.equal(capped.next_offset, 10);
    const active = await superuser(withDatabase(testServerUrl(), database), (c) =>
      c.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND state <> 'idle'`, [user]),
    );
    assert.equal(active.rows[0]?.n, 0, 'no statement of the connection is still running');
  });
});
