import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { sql } from 'kysely';
import pg from 'pg';
import { createEnvironment, createOrganization } from '../../../src/db/directory.js';
import { TableStore } from '../../../src/lakehouse/duckdb/table-store.js';
import { environmentSchema, installId, provisionEnvironment, SAMPLE_SCHEMA } from '../../../src/lakehouse/provision.js';
import {
  checksumQuery,
  copyLegacyTables,
  planColumn,
  readChecksums,
  upgradeLegacyTables,
  type LegacyUpgradeReport,
} from '../../../src/lakehouse/upgrade.js';
import { createTestDatabase, noteInstallId, type TestDatabase } from '../../helpers/db.js';
import { runCli, singleJson } from '../cli/run-cli.js';

// The upgrade of an install made by the PostgreSQL-lakehouse release (issue item "Upgrade"): each environment's
// tables, in its schema env_<id> as the old loader made them (these types: bigint, numeric, boolean, date,
// timestamptz, jsonb, text), are copied into the Parquet layout and verified at start-up; `admin lakehouse
// drop-legacy` removes the old schemas and roles, and refuses while any table is not verified.

let database: TestDatabase;
let store: TableStore;
let duck: DuckDBConnection;
let install: string;
let a: { id: string; schema: string };
let b: { id: string; schema: string };
const orphan = `env_${crypto.randomBytes(16).toString('hex')}`;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'legacy-upgrade-root-'));
const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'legacy-upgrade-tmp-'));

interface Line {
  level: 'info' | 'warn';
  fields: Record<string, unknown>;
  message: string;
}
const lines: Line[] = [];
const log = {
  info: (fields: Record<string, unknown>, message: string) => void lines.push({ level: 'info', fields, message }),
  warn: (fields: Record<string, unknown>, message: string) => void lines.push({ level: 'warn', fields, message }),
} as unknown as Parameters<typeof copyLegacyTables>[0]['log'];

const upgrade = () => copyLegacyTables({ db: database.db, url: database.url, store, log, tempDir });
const admin = (...args: string[]) => runCli(['lakehouse', 'drop-legacy', ...args], { DATABASE_URL: database.url });

async function exec(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** DuckDB's answer, every value as text (null as null). */
async function duckRows(text: string): Promise<(string | null)[][]> {
  const result = await duck.runAndReadAll(text);
  return result.getRows().map((row) => row.map((v) => (v === null ? null : String(v))));
}

async function parquetOf(environmentId: string, table: string): Promise<string> {
  const found = (await store.tables(environmentId)).find((t) => t.name === table);
  assert.ok(found, `no table ${table} in the new layout`);
  return `read_parquet([${found.files.map((f) => `'${f}'`).join(', ')}])`;
}

const statusOf = (report: LegacyUpgradeReport) =>
  report.tables.map((t) => [t.environmentId === a.id ? 'a' : t.environmentId === b.id ? 'b' : '?', t.table, t.status]);

// Values the old loader could hold, and the awkward ones: NULLs, '' (not NULL), unicode, quotes, tabs,
// newlines, backslashes, a literal \N, digits beyond 2^53 and beyond 20 digits, infinities, dates before 1970
// and far back, microseconds, nested JSON with escapes.
const TRICKY = `
  CREATE TABLE %s.tricky (id bigint, label text, amount numeric, paid boolean, day date, at timestamp with time zone, doc jsonb);
  INSERT INTO %s.tricky VALUES
    (1, 'plain', 12.50, true, '2025-01-02', '2025-01-02 10:00:00.123456+00', '{"a": 1}'),
    (2, NULL, NULL, NULL, NULL, NULL, NULL),
    (3, '', 0, false, '1969-12-31', '1969-12-31 23:59:59.999999+00', '[]'),
    (4, E'ünïcödé ✓ 😀 "double" ''single'' , comma\\ttab\\nnewline\\r\\\\backslash', -123456789012345678901234.5678, true,
        'infinity', 'infinity', '{"nested": {"list": [1, "two", null, {"x": "ü\\n"}], "q": "\\"quoted\\""}, "big": 12345678901234567890.5}'),
    (9007199254740993, E'\\\\N', 0.000000001, false, '0001-01-01', '-infinity', '"just a string"'),
    (-5, 'x41', 1e3, true, '-infinity', '1900-06-30 12:34:56+05:30', 'null');`;

before(async () => {
  database = await createTestDatabase();
  await createOrganization(database.db, 'acme');
  const envA = await createEnvironment(database.db, { organization: 'acme', environment: 'production' });
  const envB = await createEnvironment(database.db, { organization: 'acme', environment: 'staging' });
  a = { id: envA.id, schema: environmentSchema(envA.id) };
  b = { id: envB.id, schema: environmentSchema(envB.id) };
  install = await installId(database.db);
  noteInstallId(database.name, install);
  // As the earlier release's createEnvironment did: a schema and a query role per environment.
  await provisionEnvironment(database.db, envA.id);
  await provisionEnvironment(database.db, envB.id);
  store = new TableStore(database.db, root);
  duck = await (await DuckDBInstance.create(':memory:')).connect();
  await duck.run("SET TimeZone = 'UTC'");

  // An install of the earlier release with loaded tables: the schemas and roles are its createEnvironment's
  // (provisionEnvironment); the tables are made as its loader made them, by plain SQL.
  await exec(`
    ${TRICKY.replaceAll('%s', a.schema)}
    CREATE TABLE ${a.schema}.orders (order_id bigint, customer text, amount numeric, ordered_at timestamp with time zone);
    INSERT INTO ${a.schema}.orders
      SELECT i, 'customer ' || (i % 97), round((i * 7.31) % 1000, 2), timestamptz '2025-01-01' + i * interval '1 minute 0.000001 second'
        FROM generate_series(1, 20000) i;
    CREATE TABLE ${a.schema}.wide_numbers (v numeric);
    INSERT INTO ${a.schema}.wide_numbers VALUES (1e40), ('NaN'), (NULL), (0.1);
    CREATE TABLE ${b.schema}.orders (order_id bigint, customer text);
    INSERT INTO ${b.schema}.orders VALUES (1, 'staging only'), (2, 'b');
    CREATE TABLE ${b.schema}.events (id bigint, at timestamp with time zone);
    INSERT INTO ${b.schema}.events VALUES (1, '2025-01-01 00:00:00+00'), (2, '294250-01-01 00:00:00+00');
    CREATE TABLE ${b.schema}.taken (id bigint);
    INSERT INTO ${b.schema}.taken VALUES (1), (2), (3);
    CREATE SCHEMA IF NOT EXISTS ${SAMPLE_SCHEMA};
    CREATE TABLE ${SAMPLE_SCHEMA}.users (user_id bigint PRIMARY KEY, plan text);
    CREATE SCHEMA ${orphan};
    CREATE TABLE ${orphan}.lost (id bigint);
    INSERT INTO ${orphan}.lost VALUES (1);`);
  // A table of the new layout named like a legacy one, written before the upgrade (by another path).
  await store.write(b.id, 'taken', 'replace', async (file) => {
    await duck.run(`COPY (SELECT 42::BIGINT AS id) TO '${file}' (FORMAT parquet)`);
    return { rows: 1, columns: [{ name: 'id', type: 'BIGINT' }] };
  });
});

after(async () => {
  duck?.closeSync();
  await database?.drop();
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(tempDir, { recursive: true, force: true });
});

describe('upgrading an install with a PostgreSQL lakehouse', () => {
  it('copies and verifies every table of every environment once, with several processes starting at once', async () => {
    const [first, second] = await Promise.all([upgrade(), upgrade()]);
    assert.ok(first && second);
    // One of the two copied; the other waited for the lock and found them verified (or retried the failures).
    assert.equal(first.copied + second.copied, 4, JSON.stringify({ first: statusOf(first), second: statusOf(second) }));
    const report = first.copied > 0 ? first : second;
    const inA = [
      ['a', 'orders', 'verified'],
      ['a', 'tricky', 'verified'],
      ['a', 'wide_numbers', 'verified'],
    ];
    const inB = [
      ['b', 'events', 'failed'],
      ['b', 'orders', 'verified'],
      ['b', 'taken', 'failed'],
    ];
    assert.deepEqual(statusOf(report), a.id < b.id ? [...inA, ...inB] : [...inB, ...inA]);
    for (const table of (await store.tables(a.id)).concat(await store.tables(b.id))) {
      assert.equal(table.version, 1, `${table.name} was committed once`);
    }
    const copied = lines.filter((l) => l.message === 'legacy table copied and verified');
    assert.equal(copied.length, 4);
    const orders = copied.find((l) => l.fields.environment === a.id && l.fields.table === 'orders');
    assert.equal(orders?.fields.rows, 20000);
    assert.equal(typeof orders?.fields.ms, 'number');
    const failed = lines.filter((l) => l.level === 'warn' && l.message === 'legacy table not copied');
    assert.ok(failed.some((l) => l.fields.table === 'taken' && /already exists in the new layout/.test(String(l.fields.reason))));
    assert.ok(
      failed.some((l) => l.fields.table === 'events' && /"at" hold times from 294247-01-10 00:00:00\+00 on/.test(String(l.fields.reason))),
      JSON.stringify(failed),
    );
    assert.ok(!lines.some((l) => l.fields.table === 'lost'), 'a schema of no environment is not copied');
  });

  it('writes Parquet tables that hold exactly the rows of PostgreSQL, with the mapped types', async () => {
    const tricky = await parquetOf(a.id, 'tricky');
    assert.deepEqual(
      (await duckRows(`DESCRIBE SELECT * FROM ${tricky}`)).map((r) => [r[0], r[1]]),
      [
        ['id', 'BIGINT'],
        ['label', 'VARCHAR'],
        ['amount', 'DECIMAL(38,9)'],
        ['paid', 'BOOLEAN'],
        ['day', 'DATE'],
        ['at', 'TIMESTAMP WITH TIME ZONE'],
        ['doc', 'JSON'],
      ],
    );
    const rows = await duckRows(
      `SELECT id::VARCHAR, label, amount::VARCHAR, paid::VARCHAR, day::VARCHAR, "at"::VARCHAR, doc::VARCHAR FROM ${tricky} ORDER BY id`,
    );
    assert.deepEqual(rows, [
      ['-5', 'x41', '1000.000000000', 'true', '-infinity', '1900-06-30 07:04:56+00', 'null'],
      ['1', 'plain', '12.500000000', 'true', '2025-01-02', '2025-01-02 10:00:00.123456+00', '{"a": 1}'],
      ['2', null, null, null, null, null, null],
      ['3', '', '0.000000000', 'false', '1969-12-31', '1969-12-31 23:59:59.999999+00', '[]'],
      [
        '4',
        'ünïcödé ✓ 😀 "double" \'single\' , comma\ttab\nnewline\r\\backslash',
        '-123456789012345678901234.567800000',
        'true',
        'infinity',
        'infinity',
        '{"big": 12345678901234567890.5, "nested": {"q": "\\"quoted\\"", "list": [1, "two", null, {"x": "ü\\n"}]}}',
      ],
      ['9007199254740993', '\\N', '0.000000001', 'false', '0001-01-01', '-infinity', '"just a string"'],
    ]);
    // The text and JSON columns equal PostgreSQL's own text of them, value for value.
    const { rows: source } = await sql<{ id: string; label: string | null; doc: string | null }>`
      SELECT id::text AS id, label, doc::text AS doc FROM ${sql.table(`${a.schema}.tricky`)} ORDER BY id`.execute(database.db);
    const copied = await duckRows(`SELECT id::VARCHAR, label, doc::VARCHAR FROM ${tricky} ORDER BY id`);
    assert.deepEqual(
      copied,
      source.map((r) => [r.id, r.label, r.doc]),
    );

    // Every row of a larger table, compared as text formed independently on each side.
    const orders = await parquetOf(a.id, 'orders');
    const copiedOrders = await duckRows(
      `SELECT order_id::VARCHAR, customer, amount::VARCHAR, strftime(ordered_at, '%Y-%m-%d %H:%M:%S.%f') FROM ${orders} ORDER BY order_id`,
    );
    const { rows: pgOrders } = await sql<{ id: string; customer: string; amount: string; at: string }>`
      SELECT order_id::text AS id, customer, amount::text AS amount, to_char(ordered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS at
        FROM ${sql.table(`${a.schema}.orders`)} ORDER BY order_id`.execute(database.db);
    assert.equal(copiedOrders.length, 20000);
    assert.deepEqual(
      copiedOrders,
      pgOrders.map((r) => [r.id, r.customer, r.amount, r.at]),
    );

    // Numbers of more than 38 digits, or NaN, stay exact as text.
    const wide = await parquetOf(a.id, 'wide_numbers');
    assert.deepEqual(await duckRows(`SELECT typeof(v), v FROM ${wide} ORDER BY v NULLS LAST`), [
      ['VARCHAR', '0.1'],
      ['VARCHAR', '10000000000000000000000000000000000000000'],
      ['VARCHAR', 'NaN'],
      ['VARCHAR', null],
    ]);
  });

  it("keeps each environment's tables to itself, and leaves a table of the new layout it did not write alone", async () => {
    assert.deepEqual(
      (await store.tables(a.id)).map((t) => [t.name, t.rowCount]),
      [
        ['orders', 20000],
        ['tricky', 6],
        ['wide_numbers', 4],
      ],
    );
    assert.deepEqual(
      (await store.tables(b.id)).map((t) => [t.name, t.rowCount]),
      [
        ['orders', 2],
        ['taken', 1],
      ],
    );
    assert.deepEqual(await duckRows(`SELECT order_id::VARCHAR, customer FROM ${await parquetOf(b.id, 'orders')} ORDER BY 1`), [
      ['1', 'staging only'],
      ['2', 'b'],
    ]);
    assert.deepEqual(await duckRows(`SELECT id::VARCHAR FROM ${await parquetOf(b.id, 'taken')}`), [['42']]);
    for (const table of [...(await store.tables(a.id)), ...(await store.tables(b.id))]) {
      assert.ok(table.files.every((f) => f.startsWith(store.environmentDir(table.name === 'taken' || table.rowCount === 2 ? b.id : a.id))));
    }
  });

  it('records each copy with its status, rows and checksums, which an independent query of PostgreSQL reproduces', async () => {
    const records = await database.db
      .selectFrom('lakehouse_legacy_tables')
      .selectAll()
      .orderBy('environment_id')
      .orderBy('table_name')
      .execute();
    const byName = new Map(records.map((r) => [`${r.environment_id === a.id ? 'a' : 'b'}.${r.table_name}`, r]));
    assert.equal(byName.size, 6);
    const tricky = byName.get('a.tricky');
    assert.equal(tricky?.status, 'verified');
    assert.equal(tricky?.rows, 6);
    assert.equal(tricky?.schema_name, a.schema);
    assert.ok(tricky?.verified_at instanceof Date);
    assert.equal(byName.get('b.events')?.status, 'failed');
    assert.match(byName.get('b.taken')?.error ?? '', /already exists in the new layout/);
    // The checksum of a text column: count of non-NULL values; sum of the first 15 hex digits of md5(value).
    const { rows } = await sql<{ n: number; s: string }>`
      SELECT count(label)::int AS n, sum(('x' || left(md5(label), 15))::bit(60)::bigint)::text AS s
        FROM ${sql.table(`${a.schema}.tricky`)}`.execute(database.db);
    const label = tricky?.checksums?.find((c) => c.column === 'label');
    assert.deepEqual(label && { n: label.non_null, s: label.hash_sum }, rows[0]);
    assert.deepEqual(
      tricky?.checksums?.map((c) => [c.column, c.non_null]),
      [
        ['id', 6],
        ['label', 5],
        ['amount', 5],
        ['paid', 5],
        ['day', 5],
        ['at', 5],
        ['doc', 5],
      ],
    );
  });

  it('copies nothing on the next start: verified tables are skipped', async () => {
    const before = await store.tables(a.id);
    lines.length = 0;
    const report = await upgradeLegacyTables({ db: database.db, url: database.url, store, log, tempDir });
    assert.equal(report.copied, 0);
    assert.equal(report.skipped, 4);
    assert.equal(report.failed, 2, 'the failed ones are tried again, and fail again');
    assert.deepEqual(await store.tables(a.id), before);
    assert.equal(lines.filter((l) => l.message === 'legacy table copied and verified').length, 0);
  });

  it('has checksums that change with any one value, the same in PostgreSQL and DuckDB', async () => {
    const plans = [
      planColumn('t', 'text'),
      planColumn('n', 'numeric', { scale: 2, digits: 3, special: false }),
      planColumn('d', 'date'),
      planColumn('ts', 'timestamp with time zone'),
      planColumn('j', 'jsonb'),
    ];
    const values = (t: string, n: string, d: string, ts: string, j: string) =>
      `(SELECT ${t} AS t, ${n}::DECIMAL(38,2) AS n, ${d}::DATE AS d, ${ts}::TIMESTAMPTZ AS ts, ${j}::JSON AS j)`;
    const checksum = async (from: string) => {
      const result = await duck.runAndReadAll(checksumQuery(plans, from, 'duck'));
      return readChecksums(plans, result.getRowObjects()[0]);
    };
    const base = ["'é\n\"'", "'12.50'", "'2025-01-02'", "'2025-01-02 10:00:00.000001+00'", `'{"a": [1]}'`];
    const reference = await checksum(values(...(base as [string, string, string, string, string])));
    // PostgreSQL gives the same checksums for the same values.
    const pgFrom = `(SELECT E'é\\n"'::text AS t, 12.5::numeric AS n, '2025-01-02'::date AS d, '2025-01-02 10:00:00.000001+00'::timestamptz AS ts, '{"a": [1]}'::jsonb AS j) s`;
    const { rows } = await sql.raw<Record<string, unknown>>(checksumQuery(plans, pgFrom, 'pg')).execute(database.db);
    assert.deepEqual(readChecksums(plans, rows[0]), reference);
    const changes = ["'é\n\"\\'", "'12.51'", "'2025-01-03'", "'2025-01-02 10:00:00.000002+00'", `'{"a": [2]}'`];
    for (const [i, change] of changes.entries()) {
      const changed = [...base];
      changed[i] = change;
      const other = await checksum(values(...(changed as [string, string, string, string, string])));
      assert.notEqual(other.columns[i]?.hash_sum, reference.columns[i]?.hash_sum, `column ${plans[i]?.name}`);
      assert.notEqual(other.row, reference.row);
    }
    // NULL against '': the count of values differs.
    const [nulls, empty] = [
      await checksum(`(SELECT NULL::VARCHAR AS t, NULL::DECIMAL(38,2) AS n, NULL::DATE AS d, NULL::TIMESTAMPTZ AS ts, NULL::JSON AS j)`),
      await checksum(values("''", "'0'", "'1970-01-01'", "'1970-01-01 00:00:00+00'", "'0'")),
    ];
    assert.deepEqual(
      nulls.columns.map((c) => c.non_null),
      [0, 0, 0, 0, 0],
    );
    assert.deepEqual(
      empty.columns.map((c) => c.non_null),
      [1, 1, 1, 1, 1],
    );
  });
});

describe('admin lakehouse drop-legacy', () => {
  const schemas = async () =>
    (
      await sql<{
        name: string;
      }>`SELECT nspname AS name FROM pg_namespace WHERE nspname ~ '^env_' OR nspname = ${SAMPLE_SCHEMA} ORDER BY 1`.execute(database.db)
    ).rows.map((r) => r.name);
  const roles = async () =>
    (
      await sql<{ name: string }>`SELECT rolname AS name FROM pg_roles WHERE rolname LIKE ${`lh\\_${install}\\_%`} ORDER BY 1`.execute(
        database.db,
      )
    ).rows.map((r) => r.name);

  it('refuses, naming them, while any table is not verified, and drops nothing', async () => {
    const before = { schemas: await schemas(), roles: await roles() };
    assert.equal(before.roles.length, 2);
    assert.ok(before.schemas.includes(SAMPLE_SCHEMA) && before.schemas.includes(a.schema) && before.schemas.includes(b.schema));
    const result = await admin('--json');
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /^error: refusing to drop the legacy lakehouse: 2 table\(s\) are not verified/);
    assert.match(result.stderr, new RegExp(`${b.schema}\\.events \\(failed: `));
    assert.match(result.stderr, new RegExp(`${b.schema}\\.taken \\(failed: `));
    assert.equal((singleJson(result).error as { code: string }).code, 'conflict');
    assert.deepEqual({ schemas: await schemas(), roles: await roles() }, before);
  });

  it('refuses as long as one table is unverified: failed, not copied yet, or no longer verified', async () => {
    // The two failures resolved: the legacy `taken` is not wanted, the out-of-range time was a typo.
    await exec(`DROP TABLE ${b.schema}.taken; UPDATE ${b.schema}.events SET at = '2025-01-02 00:00:00+00' WHERE id = 2`);
    const report = await upgrade();
    assert.deepEqual(
      report.tables.filter((t) => t.status !== 'already_verified').map((t) => [t.table, t.status]),
      [['events', 'verified']],
    );
    // A table loaded by a process of the old release after the upgrade ran: no record yet.
    await exec(`CREATE TABLE ${a.schema}.late (id bigint); INSERT INTO ${a.schema}.late VALUES (7)`);
    const late = await admin();
    assert.equal(late.code, 1, late.stderr);
    assert.match(late.stderr, /1 table\(s\) are not verified in the new layout: env_[0-9a-f]{32}\.late \(not copied yet\)/);
    assert.deepEqual(
      statusOf(await upgrade()).filter((t) => t[2] !== 'already_verified'),
      [['a', 'late', 'verified']],
    );

    const simulate = (status: 'failed' | 'verified', error: string | null) =>
      database.db.updateTable('lakehouse_legacy_tables').set({ status, error }).where('table_name', '=', 'tricky').execute();
    await simulate('failed', 'simulated');
    try {
      const result = await admin();
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /1 table\(s\) are not verified in the new layout: env_[0-9a-f]{32}\.tricky \(failed: simulated\)/);
      assert.ok((await schemas()).includes(a.schema));
    } finally {
      await simulate('verified', null);
    }
  });

  it('drops the environment schemas, the sample schema and the sandbox roles once all are verified; again does nothing', async () => {
    const result = await admin('--json');
    assert.equal(result.code, 0, result.stderr);
    const { dropped } = singleJson(result) as { dropped: { schemas: string[]; sample_schema: boolean; roles: string[] } };
    assert.deepEqual(dropped.schemas, [a.schema, b.schema, orphan].sort());
    assert.equal(dropped.sample_schema, true);
    assert.equal(dropped.roles.length, 2);
    assert.deepEqual(await schemas(), []);
    assert.deepEqual(await roles(), []);
    // The new layout is untouched.
    assert.deepEqual(
      (await store.tables(a.id)).map((t) => t.name),
      ['late', 'orders', 'tricky', 'wide_numbers'],
    );

    const again = await admin();
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /nothing to drop/);
    // And the start-up call no longer has anything to look at.
    const report = await upgradeLegacyTables({ db: database.db, url: database.url, store, log, tempDir });
    assert.deepEqual(report, { tables: [], copied: 0, skipped: 0, failed: 0 });
  });
});
