import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import type { Database } from '../db/schema.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { TableStore } from './duckdb/table-store.js';
import { SAMPLE_SCHEMA } from './provision.js';
import { quoteIdent, quoteLiteral } from './sql-quote.js';

// The upgrade of an install made by a release that kept each environment's tables in PostgreSQL (schema
// `env_<id without dashes>`, loaded by the old src/lakehouse/load.ts) to the Parquet layout of TableStore.
// At start-up every table of an environment's schema that is not yet verified is:
//  1. read in ONE repeatable-read snapshot: its columns, what its numeric values need (scale, digits), its
//     checksums, and its rows, streamed with COPY … TO STDOUT (pg-copy-streams) to a temporary file;
//  2. converted by DuckDB into the Parquet file TableStore.write hands out (mode 'replace');
//  3. verified against that file BEFORE the commit: equal row counts and equal checksums per column (and per
//     row); a mismatch throws, so TableStore commits nothing and a wrong copy is never visible;
//  4. recorded in lakehouse_legacy_tables (`copied` just before the commit, `verified` after it) and logged.
// The old schemas and roles stay until `admin lakehouse drop-legacy` (dropLegacy below), which refuses while
// any table of an environment's schema is not verified.
//
// Transport (PostgreSQL → temporary file → DuckDB). COPY's text format, tab-separated, NULL as \N, with every
// value first put in a form that holds no tab, newline, backslash or quote, so nothing needs escaping or
// quoting and DuckDB's CSV reader (no quote, no escape, all VARCHAR) cannot misread a value:
//  - text, json(b), anything else: 'x' || hex of its UTF-8 bytes (the x keeps '' apart from NULL);
//  - integers, booleans, numerics: their own text (digits, sign, point; true/false);
//  - date: days since 1970-01-01; timestamptz: microseconds since 1970-01-01 UTC; ±infinity as such.
//
// Types (PostgreSQL → DuckDB): bigint → BIGINT, integer → INTEGER, smallint → SMALLINT, boolean → BOOLEAN,
// date → DATE, timestamptz → TIMESTAMPTZ, jsonb/json → JSON (the text as PostgreSQL prints it), text/varchar →
// VARCHAR, anything else → VARCHAR (its PostgreSQL text). numeric → DECIMAL(38, s) with s the largest scale
// among the column's values, so every value is kept exactly (DOUBLE would round 0.1 and every amount of money,
// and an exact check could not pass); a column whose values need more than 38 digits, or holds NaN or
// ±Infinity, becomes VARCHAR (its exact text) instead, with a warning in the log.
//
// Checksum (per column, computed the same way on both sides): K(v), a canonical text of each value —
//  - integers: decimal text; booleans: true/false; text, json, VARCHAR: the text itself;
//  - numeric as DECIMAL(38, s): the unscaled integer v·10^s (12.5 at scale 2 → 1250);
//  - date: days since 1970-01-01; timestamptz: microseconds since 1970-01-01 UTC; ±infinity as infinity/-infinity;
// then m(v) = md5 of K(v)'s UTF-8 bytes, and the column's checksum is {non_null: count of non-NULL values,
// hash_sum: the exact sum (numeric / HUGEINT) of the first 15 hex digits of m(v) read as an integer}. The row
// checksum is the same sum over md5 of the row's m(v)s (or `n` for NULL) joined by commas, so values that moved
// between rows are caught too. Order-independent, exact, and made of md5, substr, count and sum: the same
// functions in PostgreSQL and DuckDB.
//
// DuckDB runs in this process, not in a worker (src/lakehouse/duckdb/worker.ts): the data is the server's
// own, already typed, and the SQL is built here from catalog names; nothing a caller wrote runs. It runs once,
// at start-up, before the server serves, with its own memory limit and temporary folder.

export interface LegacyUpgradeOptions {
  db: Kysely<Database>;
  /** URL of the application database (OpenDatabase.url): the COPY and the advisory lock need a connection of their own. */
  url: string;
  store: TableStore;
  log: Pick<Logger, 'info' | 'warn'>;
  /** A folder for the temporary files (the rows in transit, DuckDB's spill files); emptied again afterwards. */
  tempDir: string;
  /** DuckDB's memory limit while converting (default 1GB). */
  memoryLimit?: string;
}

export interface LegacyTableResult {
  environmentId: string;
  schema: string;
  table: string;
  /** verified: copied and verified now; already_verified: skipped; failed: `error` says why. */
  status: 'verified' | 'already_verified' | 'failed';
  rows?: number;
  ms?: number;
  error?: string;
}

export interface LegacyUpgradeReport {
  /** Every table of every environment schema, in environment and table order. */
  tables: LegacyTableResult[];
  copied: number;
  skipped: number;
  failed: number;
}

export interface ColumnChecksum {
  column: string;
  /** The DuckDB type of the copy. */
  type: string;
  non_null: number;
  hash_sum: string;
}

/** Session advisory lock: one process copies, the others wait, then find everything verified. */
const UPGRADE_LOCK = 'lakehouse-mcp legacy upgrade';
const ENV_SCHEMA = /^env_[0-9a-f]{32}$/;
/** DuckDB's TIMESTAMPTZ ends on 294247-01-10 04:00:54.775806 UTC (to the day, with room). */
const LAST_TIME = '294247-01-10 00:00:00+00';

const emptyReport = (): LegacyUpgradeReport => ({ tables: [], copied: 0, skipped: 0, failed: 0 });

/**
 * Called at server start-up: copies every not yet verified legacy table (copyLegacyTables) and logs a summary.
 * Answers at once, after one catalog query, when the database has no environment schema (a new install, or
 * one whose legacy schemas were dropped). A table that fails is logged and recorded, and the server starts
 * anyway (its environment misses that table until a later start copies it); errors beyond one table (the
 * database going away) are thrown.
 */
export async function upgradeLegacyTables(options: LegacyUpgradeOptions): Promise<LegacyUpgradeReport> {
  if (!(await hasLegacySchemas(options.db))) return emptyReport();
  const report = await copyLegacyTables(options);
  if (report.copied > 0 || report.failed > 0) {
    const summary = { copied: report.copied, skipped: report.skipped, failed: report.failed };
    if (report.failed > 0) options.log.warn(summary, 'legacy tables: some could not be copied; they are retried at the next start');
    else options.log.info(summary, 'legacy tables copied to the Parquet layout');
  }
  return report;
}

async function hasLegacySchemas(db: Kysely<Database>): Promise<boolean> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM pg_namespace WHERE nspname ~ '^env_[0-9a-f]{32}$'`.execute(db);
  return (rows[0]?.n ?? 0) > 0;
}

interface LegacyTable {
  environmentId: string;
  schema: string;
  table: string;
}

/** The ordinary tables of the `env_<hex>` schemas whose hex is an existing environment's id. */
async function legacyTables(db: Kysely<Database>): Promise<LegacyTable[]> {
  const { rows } = await sql<{ environment_id: string; schema: string; table: string }>`
    SELECT e.id::text AS environment_id, n.nspname AS schema, c.relname AS table
      FROM pg_namespace n
      JOIN environments e ON n.nspname = 'env_' || replace(e.id::text, '-', '')
      JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p') AND NOT c.relispartition
     WHERE n.nspname ~ '^env_[0-9a-f]{32}$'
     ORDER BY e.id, c.relname`.execute(db);
  return rows.map((r) => ({ environmentId: r.environment_id, schema: r.schema, table: r.table }));
}

async function verifiedTables(db: Kysely<Database>): Promise<Set<string>> {
  const rows = await db
    .selectFrom('lakehouse_legacy_tables')
    .select(['environment_id', 'table_name'])
    .where('status', '=', 'verified')
    .execute();
  return new Set(rows.map((r) => `${r.environment_id}/${r.table_name}`));
}

/**
 * Copies every table of the environments' legacy schemas that is not yet verified into the Parquet layout,
 * verifies each and records it (lakehouse_legacy_tables). Idempotent: verified tables are skipped. Several
 * processes may call it at once: they take turns (an advisory lock), and the later ones find the tables verified.
 *
 * A table of the new layout with the same name that this copy did not write (loaded after the upgrade began,
 * say) is never overwritten: the legacy table is recorded as failed with the reason, and stays so (blocking
 * drop-legacy) until an admin drops the legacy table (or renames the new one, and the next start copies it).
 */
export async function copyLegacyTables(options: LegacyUpgradeOptions): Promise<LegacyUpgradeReport> {
  const { db, log } = options;
  const key = (t: LegacyTable) => `${t.environmentId}/${t.table}`;
  // Without the lock first: on every start after the upgrade, this is all there is to do.
  let verified = await verifiedTables(db);
  const tables = await legacyTables(db);
  if (tables.every((t) => verified.has(key(t)))) {
    return { ...emptyReport(), tables: tables.map((t) => ({ ...t, status: 'already_verified' })), skipped: tables.length };
  }

  const client = new pg.Client({ connectionString: options.url, application_name: 'lakehouse-mcp legacy upgrade' });
  client.on('error', () => undefined);
  await client.connect();
  fs.mkdirSync(options.tempDir, { recursive: true });
  const work = fs.mkdtempSync(path.join(options.tempDir, 'legacy-upgrade-'));
  let instance: DuckDBInstance | undefined;
  let duck: DuckDBConnection | undefined;
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [UPGRADE_LOCK]);
    // Another process may have copied them while this one waited.
    verified = await verifiedTables(db);
    const report = emptyReport();
    for (const table of await legacyTables(db)) {
      if (verified.has(key(table))) {
        report.tables.push({ ...table, status: 'already_verified' });
        report.skipped++;
        continue;
      }
      if (!duck) {
        // Loaded only when there is a table to copy: DuckDB's bindings would slow every other start.
        const { DuckDBInstance } = await import('@duckdb/node-api');
        instance = await DuckDBInstance.create(':memory:', {
          memory_limit: options.memoryLimit ?? '1GB',
          threads: '2',
          temp_directory: path.join(work, 'duckdb'),
        });
        duck = await instance.connect();
        await duck.run("SET TimeZone = 'UTC'");
      }
      const started = performance.now();
      try {
        const rows = await copyOne({ ...options, client, duck, work }, table);
        const ms = Math.round(performance.now() - started);
        log.info({ environment: table.environmentId, table: table.table, rows, ms }, 'legacy table copied and verified');
        report.tables.push({ ...table, status: 'verified', rows, ms });
        report.copied++;
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        // The connection may be left inside the snapshot's transaction.
        await client.query('ROLLBACK').catch(() => undefined);
        await record(db, table, { status: 'failed', error: reason.slice(0, 4_000) });
        log.warn({ environment: table.environmentId, table: table.table, reason }, 'legacy table not copied');
        report.tables.push({ ...table, status: 'failed', error: reason });
        report.failed++;
      }
    }
    return report;
  } finally {
    duck?.closeSync();
    instance?.closeSync();
    fs.rmSync(work, { recursive: true, force: true });
    // Ending the session releases the lock.
    await client.end().catch(() => undefined);
  }
}

type RecordValues = Partial<{
  rows: number;
  checksums: ColumnChecksum[];
  row_checksum: string;
  file: string | null;
  error: string | null;
}>;

async function record(db: Kysely<Database>, table: LegacyTable, values: RecordValues & { status: 'copied' | 'failed' }) {
  const row = {
    ...values,
    checksums: values.checksums === undefined ? undefined : JSON.stringify(values.checksums),
    updated_at: new Date(),
  };
  await db
    .insertInto('lakehouse_legacy_tables')
    .values({ environment_id: table.environmentId, schema_name: table.schema, table_name: table.table, ...row })
    .onConflict((oc) => oc.columns(['environment_id', 'table_name']).doUpdateSet({ schema_name: table.schema, ...row }))
    .execute();
}

/** How one column travels and is checked. */
export interface ColumnPlan {
  name: string;
  /** PostgreSQL's type (format_type). */
  pgType: string;
  /** The DuckDB type of the copy. */
  duckType: string;
  /** PostgreSQL: the value's transport text (see the top of the file), from `v`. */
  transport: (v: string) => string;
  /** DuckDB: the typed value from its transport text `x`. */
  convert: (x: string) => string;
  /** PostgreSQL: K(v), the canonical text. */
  pgCanonical: (v: string) => string;
  /** DuckDB: K(v) of the copied value. */
  duckCanonical: (v: string) => string;
}

const textual = (name: string, pgType: string, duckType: 'VARCHAR' | 'JSON'): ColumnPlan => ({
  name,
  pgType,
  duckType,
  transport: (v) => `'x' || encode(convert_to(${v}::text, 'UTF8'), 'hex')`,
  convert: (x) => `decode(unhex(substr(${x}, 2)))${duckType === 'JSON' ? '::JSON' : ''}`,
  pgCanonical: (v) => `${v}::text`,
  duckCanonical: (v) => `${v}::VARCHAR`,
});

const INTEGER_TYPES: Record<string, string> = { bigint: 'BIGINT', integer: 'INTEGER', smallint: 'SMALLINT' };

/** The plan of a column, given (for numeric) the largest scale and integer digits of its values. */
export function planColumn(name: string, pgType: string, numeric?: { scale: number; digits: number; special: boolean }): ColumnPlan {
  const base = pgType;
  const integer = INTEGER_TYPES[base];
  if (integer) {
    return {
      name,
      pgType,
      duckType: integer,
      transport: (v) => `${v}::text`,
      convert: (x) => `${x}::${integer}`,
      pgCanonical: (v) => `${v}::text`,
      duckCanonical: (v) => `${v}::VARCHAR`,
    };
  }
  if (base === 'boolean') {
    return {
      name,
      pgType,
      duckType: 'BOOLEAN',
      transport: (v) => `${v}::text`,
      convert: (x) => `${x}::BOOLEAN`,
      pgCanonical: (v) => `${v}::text`,
      duckCanonical: (v) => `${v}::VARCHAR`,
    };
  }
  if (base === 'numeric' && numeric && !numeric.special && numeric.scale <= 38 && numeric.digits + numeric.scale <= 38) {
    const s = numeric.scale;
    const type = `DECIMAL(38,${s})`;
    return {
      name,
      pgType,
      duckType: type,
      transport: (v) => `${v}::text`,
      convert: (x) => `${x}::${type}`,
      // v·10^s as an integer; a value of a larger scale would keep a fraction here and fail the check.
      pgCanonical: (v) => `trim_scale(${v} * power(10::numeric, ${s}))::text`,
      // DuckDB prints a DECIMAL with exactly s decimals (0.5 at scale 2 as 0.50, at scale 38 as .5000…): without
      // its point, that is the unscaled integer.
      duckCanonical: (v) => `replace(${v}::VARCHAR, '.', '')::HUGEINT::VARCHAR`,
    };
  }
  if (base === 'date') {
    return {
      name,
      pgType,
      duckType: 'DATE',
      transport: (v) => `CASE WHEN isfinite(${v}) THEN (${v} - DATE '1970-01-01')::text ELSE ${v}::text END`,
      convert: (x) => `CASE WHEN ${x} IN ('infinity', '-infinity') THEN ${x}::DATE ELSE DATE '1970-01-01' + ${x}::INTEGER END`,
      pgCanonical: (v) => `CASE WHEN isfinite(${v}) THEN (${v} - DATE '1970-01-01')::text ELSE ${v}::text END`,
      duckCanonical: (v) => `CASE WHEN isfinite(${v}) THEN (${v} - DATE '1970-01-01')::VARCHAR ELSE ${v}::VARCHAR END`,
    };
  }
  if (base === 'timestamp with time zone') {
    const micros = (v: string) => `CASE WHEN isfinite(${v}) THEN (extract(epoch FROM ${v}) * 1000000)::bigint::text ELSE ${v}::text END`;
    return {
      name,
      pgType,
      duckType: 'TIMESTAMP WITH TIME ZONE',
      transport: micros,
      convert: (x) => `CASE WHEN ${x} IN ('infinity', '-infinity') THEN ${x}::TIMESTAMPTZ ELSE make_timestamptz(${x}::BIGINT) END`,
      pgCanonical: micros,
      duckCanonical: (v) => `CASE WHEN isfinite(${v}) THEN epoch_us(${v})::VARCHAR ELSE ${v}::VARCHAR END`,
    };
  }
  return textual(name, pgType, base === 'jsonb' || base === 'json' ? 'JSON' : 'VARCHAR');
}

/** The first 15 hex digits of an md5 (60 bits) as a bigint, summed exactly. */
const pgHashSum = (m: string) => `coalesce(sum(('x' || substr(${m}, 1, 15))::bit(60)::bigint), 0)::text`;
const duckHashSum = (m: string) => `coalesce(sum(('0x' || substr(${m}, 1, 15))::BIGINT), 0)::VARCHAR`;

export interface Checksums {
  rows: number;
  columns: ColumnChecksum[];
  row: string;
}

/** The checksum query over `from`, whose columns are c0, c1, … (quoted names in `source`). */
export function checksumQuery(plans: ColumnPlan[], from: string, dialect: 'pg' | 'duck'): string {
  const md5 = (plan: ColumnPlan, v: string) =>
    dialect === 'pg' ? `md5(convert_to(${plan.pgCanonical(v)}, 'UTF8'))` : `md5(${plan.duckCanonical(v)})`;
  const inner = plans.map((plan, i) => `${md5(plan, quoteIdent(plan.name))} AS m${i}`).join(', ');
  const sum = dialect === 'pg' ? pgHashSum : duckHashSum;
  const text = dialect === 'pg' ? 'text' : 'VARCHAR';
  const rowText = `concat_ws(',', ${plans.map((_, i) => `coalesce(m${i}, 'n')`).join(', ')})`;
  const outer = [
    `count(*)::${text} AS n`,
    `${sum(`md5(${rowText})`)} AS row_sum`,
    ...plans.map((_, i) => `count(m${i})::${text} AS c${i}, ${sum(`m${i}`)} AS s${i}`),
  ];
  return `SELECT ${outer.join(', ')} FROM (SELECT ${inner || '1 AS nothing'} FROM ${from}) t`;
}

export function readChecksums(plans: ColumnPlan[], row: Record<string, unknown> | undefined): Checksums {
  if (!row) throw new Error('the checksum query answered no row');
  return {
    rows: Number(row.n),
    row: String(row.row_sum),
    columns: plans.map((plan, i) => ({
      column: plan.name,
      type: plan.duckType,
      non_null: Number(row[`c${i}`]),
      hash_sum: String(row[`s${i}`]),
    })),
  };
}

interface CopyContext extends LegacyUpgradeOptions {
  client: pg.Client;
  duck: DuckDBConnection;
  work: string;
}

/** Copies, verifies and records one table; answers its row count. Throws with the reason it could not. */
async function copyOne(context: CopyContext, table: LegacyTable): Promise<number> {
  const { client, duck, db, store } = context;
  const source = `${quoteIdent(table.schema)}.${quoteIdent(table.table)}`;
  await refuseForeignTable(db, table);

  // One snapshot for the columns, the numeric profile, the checksums and the rows.
  await client.query(
    `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
     SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'postgres';
     SET LOCAL extra_float_digits = 1`,
  );
  const columns = await client.query<{ name: string; type: string }>(
    // The type without its modifier (numeric, not numeric(10,2); timestamp with time zone, not timestamp(3) …).
    `SELECT a.attname AS name, format_type(a.atttypid, NULL) AS type
       FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [source],
  );
  if (columns.rows.length === 0) throw new Error('the table has no columns; a Parquet file needs at least one');
  // What the values need: numerics their largest scale and integer digits; times to fit DuckDB's range.
  const numericColumns = columns.rows.filter((c) => c.type === 'numeric');
  const timeColumns = columns.rows.filter((c) => c.type === 'timestamp with time zone');
  const profile = new Map<string, { scale: number; digits: number; special: boolean }>();
  if (numericColumns.length > 0 || timeColumns.length > 0) {
    const parts = numericColumns.map((c, i) => {
      const v = quoteIdent(c.name);
      const special = `${v}::text IN ('NaN', 'Infinity', '-Infinity')`;
      return `coalesce(max(scale(${v})) FILTER (WHERE NOT ${special}), 0) AS s${i},
              coalesce(max(length(trunc(abs(${v}))::text)) FILTER (WHERE NOT ${special}), 1) AS d${i},
              coalesce(bool_or(${special}), false) AS x${i}`;
    });
    // PostgreSQL's times go to 294276 AD, DuckDB's (microseconds in 64 bits from 1970) to 294247-01-10.
    parts.push(
      ...timeColumns.map(
        (c, i) =>
          `coalesce(bool_or(isfinite(${quoteIdent(c.name)}) AND ${quoteIdent(c.name)} >= ${quoteLiteral(LAST_TIME)}), false) AS t${i}`,
      ),
    );
    const stats = await stage('reading it from PostgreSQL', () =>
      client.query<Record<string, number | boolean>>(`SELECT ${parts.join(', ')} FROM ${source}`),
    );
    const row = stats.rows[0] ?? {};
    numericColumns.forEach((c, i) =>
      profile.set(c.name, { scale: Number(row[`s${i}`]), digits: Number(row[`d${i}`]), special: row[`x${i}`] === true }),
    );
    const beyond = timeColumns.filter((_, i) => row[`t${i}`] === true).map((c) => `"${c.name}"`);
    if (beyond.length > 0) {
      throw new Error(
        `the column(s) ${beyond.join(', ')} hold times from ${LAST_TIME} on, beyond what DuckDB can hold; correct or remove those rows and restart`,
      );
    }
  }
  const plans = columns.rows.map((c) => planColumn(c.name, c.type, profile.get(c.name)));
  for (const plan of plans) {
    if (plan.pgType.startsWith('numeric') && plan.duckType === 'VARCHAR') {
      context.log.warn(
        { environment: table.environmentId, table: table.table, column: plan.name },
        'legacy numeric column copied as VARCHAR: its values need more than 38 digits or include NaN or Infinity',
      );
    }
  }

  const expected = await stage('reading it from PostgreSQL', async () =>
    readChecksums(plans, (await client.query<Record<string, unknown>>(checksumQuery(plans, source, 'pg'))).rows[0]),
  );
  const tsv = path.join(context.work, `${table.environmentId}-${table.table}.tsv`);
  try {
    const select = plans.map((plan) => plan.transport(quoteIdent(plan.name))).join(', ');
    // `default`: the CommonJS exports, alike under Node and in the bundle (a lazy CommonJS chunk has no named exports).
    const { to: copyTo } = (await import('pg-copy-streams')).default;
    await stage('reading it from PostgreSQL', () =>
      pipeline(client.query(copyTo(`COPY (SELECT ${select} FROM ${source}) TO STDOUT`)), fs.createWriteStream(tsv)),
    );
    await client.query('COMMIT');

    let copied: Checksums | undefined;
    let relative: string | undefined;
    await store.write(table.environmentId, table.table, 'replace', async (file) => {
      const csvColumns = `{${plans.map((_, i) => `'c${i}': 'VARCHAR'`).join(', ')}}`;
      const reader = `read_csv(${quoteLiteral(tsv)}, delim = '\t', quote = '', escape = '', header = false, nullstr = '\\N',
        auto_detect = false, columns = ${csvColumns})`;
      const converted = plans.map((plan, i) => `${plan.convert(`c${i}`)} AS ${quoteIdent(plan.name)}`).join(', ');
      await stage('converting it with DuckDB', () =>
        duck.run(`COPY (SELECT ${converted} FROM ${reader}) TO ${quoteLiteral(file)} (FORMAT parquet)`),
      );
      const parquet = `read_parquet(${quoteLiteral(file)})`;
      const described = await duck.runAndReadAll(`DESCRIBE SELECT * FROM ${parquet}`);
      const written = described.getRows().map(([name, type]) => ({ name: String(name), type: String(type) }));
      const wanted = plans.map((plan) => ({ name: plan.name, type: plan.duckType }));
      if (JSON.stringify(written) !== JSON.stringify(wanted)) {
        throw new Error(`the Parquet file has the columns ${describe(written)} where ${describe(wanted)} were written`);
      }
      const result = await duck.runAndReadAll(checksumQuery(plans, parquet, 'duck'));
      copied = readChecksums(plans, result.getRowObjects()[0]);
      verify(expected, copied);
      // Claimed before the commit: should this process stop between the commit and `verified`, the next start
      // knows the committed table as this copy's and may replace it.
      relative = path.relative(store.root, file);
      await refuseForeignTable(db, table);
      await record(db, table, {
        status: 'copied',
        rows: copied.rows,
        checksums: copied.columns,
        row_checksum: copied.row,
        file: relative,
        error: null,
      });
      return { rows: copied.rows, columns: written };
    });
    // An UPDATE: the row is there (`copied`), and an INSERT's row would have to pass the checks on its own.
    await db
      .updateTable('lakehouse_legacy_tables')
      .set({ status: 'verified', verified_at: new Date(), updated_at: new Date(), error: null })
      .where('environment_id', '=', table.environmentId)
      .where('table_name', '=', table.table)
      .execute();
    return copied?.rows ?? 0;
  } finally {
    fs.rmSync(tsv, { force: true });
  }
}

/** Runs `work`, prefixing its error's message with the step it failed in. */
async function stage<T>(step: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${step}: ${message}`, { cause: error });
  }
}

const describe = (columns: { name: string; type: string }[]) => columns.map((c) => `${c.name} ${c.type}`).join(', ');

/** Throws, naming the first difference, unless the copy's row count and checksums are the source's. */
function verify(expected: Checksums, copied: Checksums): void {
  if (copied.rows !== expected.rows) {
    throw new Error(`verification failed: ${copied.rows} rows were copied where the table has ${expected.rows}`);
  }
  for (const [i, want] of expected.columns.entries()) {
    const got = copied.columns[i];
    if (got?.non_null !== want.non_null || got.hash_sum !== want.hash_sum) {
      throw new Error(
        `verification failed: the column "${want.column}" differs (${got?.non_null ?? 0} values, checksum ${got?.hash_sum ?? '-'}; the table: ${want.non_null} values, checksum ${want.hash_sum})`,
      );
    }
  }
  if (copied.row !== expected.row) throw new Error('verification failed: the rows differ (each column matches, the rows do not)');
}

/**
 * Throws when the new layout already has a table of this name that this copy did not write: its only file is
 * not the one recorded for this legacy table.
 */
async function refuseForeignTable(db: Kysely<Database>, table: LegacyTable): Promise<void> {
  const existing = await db
    .selectFrom('lakehouse_tables')
    .select(['files', 'version'])
    .where('environment_id', '=', table.environmentId)
    .where('name', '=', table.table)
    .executeTakeFirst();
  if (!existing) return;
  const claimed = await db
    .selectFrom('lakehouse_legacy_tables')
    .select('file')
    .where('environment_id', '=', table.environmentId)
    .where('table_name', '=', table.table)
    .executeTakeFirst();
  const ours = claimed?.file != null && existing.files.length === 1 && existing.files[0] === claimed.file;
  if (!ours) {
    throw new Error(
      `the table "${table.table}" already exists in the new layout (version ${existing.version}, not written by this upgrade); ` +
        `it is left as it is and the legacy table was not copied. If the legacy rows are not needed, drop them ` +
        `(DROP TABLE ${table.schema}.${quoteIdent(table.table)}); to keep both, rename the new table and restart`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// admin lakehouse drop-legacy

export interface DropLegacyResult {
  schemas: string[];
  roles: string[];
  /** Whether the legacy `sample` schema was dropped now. */
  sample: boolean;
}

/**
 * Drops the legacy PostgreSQL layout: every `env_<hex>` schema, the `sample` schema and this database's
 * sandbox roles (`lh_<install id>_…`). Refuses (AppError `conflict`, naming them) while any table of an
 * environment's schema is not verified: without a record, `copied` or `failed`. Idempotent: a second run
 * drops nothing and succeeds. Waits for a running upgrade (the same advisory lock).
 */
export async function dropLegacy(db: Kysely<Database>): Promise<DropLegacyResult> {
  return db.connection().execute(async (conn) => {
    await sql`SELECT pg_advisory_lock(hashtext(${UPGRADE_LOCK}))`.execute(conn);
    try {
      const tables = await legacyTables(conn);
      const records = await conn
        .selectFrom('lakehouse_legacy_tables')
        .select(['environment_id', 'table_name', 'status', 'error'])
        .execute();
      const byKey = new Map(records.map((r) => [`${r.environment_id}/${r.table_name}`, r]));
      const unverified = tables.filter((t) => byKey.get(`${t.environmentId}/${t.table}`)?.status !== 'verified');
      if (unverified.length > 0) {
        const list = unverified.map((t) => {
          const r = byKey.get(`${t.environmentId}/${t.table}`);
          return `${t.schema}.${t.table} (${r ? r.status : 'not copied yet'}${r?.error ? `: ${r.error.slice(0, 200)}` : ''})`;
        });
        throw new AppError(
          'conflict',
          `refusing to drop the legacy lakehouse: ${unverified.length} table(s) are not verified in the new layout: ${list.join('; ')}. ` +
            'Start the server to copy them (failed copies are retried at each start), or drop a legacy table whose rows are not needed.',
        );
      }
      const schemas = await sql<{ name: string }>`
        SELECT nspname AS name FROM pg_namespace WHERE nspname ~ '^env_[0-9a-f]{32}$' ORDER BY nspname`.execute(conn);
      const dropped: string[] = [];
      for (const { name } of schemas.rows) {
        if (!ENV_SCHEMA.test(name)) continue;
        // One transaction each: a schema's tables take a lock each, a single transaction could run out of them.
        await sql`DROP SCHEMA IF EXISTS ${sql.id(name)} CASCADE`.execute(conn);
        dropped.push(name);
      }
      const sample = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = ${SAMPLE_SCHEMA}`.execute(conn);
      if (sample.rows[0]?.n) await sql`DROP SCHEMA IF EXISTS ${sql.id(SAMPLE_SCHEMA)} CASCADE`.execute(conn);
      const install = await conn
        .selectFrom('lakehouse_install')
        .select('install_id')
        .where((eb) => eb('database_name', '=', eb.fn<string>('current_database')))
        .executeTakeFirst();
      const roles: string[] = [];
      if (install) {
        const found = await sql<{ name: string }>`
          SELECT rolname AS name FROM pg_roles WHERE rolname ~ ${`^lh_${install.install_id}_[0-9a-f]{32}$`} ORDER BY rolname`.execute(conn);
        for (const { name } of found.rows) {
          // DROP OWNED revokes what the role was granted here (CONNECT on this database); it owns nothing.
          await sql`DROP OWNED BY ${sql.id(name)}`.execute(conn);
          await sql`DROP ROLE IF EXISTS ${sql.id(name)}`.execute(conn);
          roles.push(name);
        }
      }
      return { schemas: dropped, roles, sample: Boolean(sample.rows[0]?.n) };
    } finally {
      await sql`SELECT pg_advisory_unlock(hashtext(${UPGRADE_LOCK}))`.execute(conn);
    }
  });
}
