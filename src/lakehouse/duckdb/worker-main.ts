import fs from 'node:fs';
import {
  DuckDBInstance,
  StatementType,
  DuckDBTypeId,
  JsonDuckDBValueConverter,
  type DuckDBConnection,
  type DuckDBType,
  type DuckDBVector,
} from '@duckdb/node-api';
import { AppError } from '../../errors.js';
import { quoteIdent as quote, quoteLiteral as literal } from '../sql-quote.js';
import { checkDuckStatement } from './guard.js';
import { formatBytes } from '../format-bytes.js';
import { toFailure } from './failure.js';
import type { Catalogs, ExportTarget, FromWorker, OpenMessage, QueryMessage, ToWorker } from './worker-protocol.js';
import { tokenize } from '../advice/sql-tokens.js';
import { assertWithinBudget, isLimited } from '../scan-budget.js';
import {
  duckPlanScan,
  ROW_GROUP_ROWS,
  type DuckOperator,
  type PlanScan,
  type ScannedTable,
  type StatementLimits,
} from '../scan-estimate.js';

// A DuckDB worker process (started by src/lakehouse/duckdb/worker.ts): one locked in-memory DuckDB that can
// read only the folders it was given, answering one statement at a time. It holds no secrets (its environment
// is empty) and nothing of the server's database; if it dies, the serving process answers the call and
// starts another.

const send = (message: FromWorker) => process.send?.(message);

/** The SELECT of an EXPLAIN ANALYZE sent as a query (it runs); a plain EXPLAIN runs nothing. */
const ANALYZED = /^\s*explain\s+analy[sz]e\s+([\s\S]*)$/i;

const PRAGMA = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*pragma\b/i;

/** How deep an expression may nest (DuckDB's default is 1,000). */
const MAX_EXPRESSION_DEPTH = 200;

/** One session per search path (OpenMessage.searchPaths); all read the same in-memory catalogs. */
const sessions = new Map<string, DuckDBConnection>();
/** The call being run: one at a time. */
let running:
  | {
      id: number;
      session: DuckDBConnection;
      timer: NodeJS.Timeout;
      /** Why it is being stopped, once it is: its timeout, the caller's cancel, or its export's size cap. */
      stop?: 'timeout' | 'cancel' | 'too_large';
      /** Repeats the interrupt until the call ends (see interrupt()). */
      repeat?: NodeJS.Timeout;
    }
  | undefined;
/** How often an interrupt is repeated until the call it stops has ended. */
const INTERRUPT_REPEAT_MS = 20;
/** How often a file being exported is measured against its cap. */
const EXPORT_CHECK_MS = 50;
/** Statements cancelled while they waited in this worker's queue (ids only grow: older ones are dropped). */
const cancelledWaiting = new Set<number>();
/** The catalogs' tables (their files), the worker's threads and search paths: what a plan's scans may read. */
let catalogs: Catalogs = {};
let threads = 1;
let searchPaths: Record<string, string[]> = {};
/** The tables' columns, rows and column sizes, read once per definition of the views (see scannedTables). */
let scanned: Promise<ScannedTable[]> | undefined;
/** Rows and compressed bytes per column of each Parquet file read so far (files are never rewritten). */
const fileSizes = new Map<string, { rows: number; columns: Record<string, number> }>();

async function open(message: OpenMessage): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:', {
    threads: String(message.threads),
    memory_limit: message.memoryLimit,
    temp_directory: message.tempDirectory,
    max_temp_directory_size: message.maxTempDirectorySize,
  });
  const setup = await instance.connect();
  catalogs = message.catalogs;
  threads = message.threads;
  searchPaths = message.searchPaths;
  await setup.run(`SET allowed_directories = [${message.allowedDirectories.map(literal).join(', ')}]`);
  for (const catalog of Object.keys(message.catalogs)) await setup.run(`ATTACH ':memory:' AS ${quote(catalog)}`);
  await define(setup, message.catalogs, message.comments);
  await setup.run("SET TimeZone = 'UTC'");
  // DuckDB binds a chain of operators in time that grows steeply with its depth (300 terms: 1 s, 900: 26 s,
  // measured here): refused at parse time well before that, where no analyst's SQL goes.
  await setup.run(`SET GLOBAL max_expression_depth = ${MAX_EXPRESSION_DEPTH}`);
  // Parquet files are written once and never changed: their footers can be kept between statements.
  await setup.run('SET parquet_metadata_cache = true');
  for (const [name, searchPath] of Object.entries(message.searchPaths)) {
    const session = await instance.connect();
    // Session settings, made before the lock.
    await session.run(`SET search_path = ${literal(searchPath.join(','))}`);
    await session.run("SET TimeZone = 'UTC'");
    await session.run(`SET max_expression_depth = ${MAX_EXPRESSION_DEPTH}`);
    // Query progress (rows read so far) for query jobs' status; never printed.
    await session.run('SET enable_progress_bar = true');
    await session.run('SET enable_progress_bar_print = false');
    sessions.set(name, session);
  }
  // From here on: no file outside the allowed folders, no ATTACH, INSTALL or LOAD of anything new, no setting changes.
  await setup.run('SET enable_external_access = false');
  await setup.run('SET autoinstall_known_extensions = false');
  await setup.run('SET autoload_known_extensions = false');
  await setup.run('SET lock_configuration = true');
  sessions.set('', setup);
}

/** (Re)creates each catalog's views over their Parquet files, dropping views of tables that are gone. */
async function define(on: DuckDBConnection, catalogs: Catalogs, comments: OpenMessage['comments'] = {}): Promise<void> {
  for (const [catalog, tables] of Object.entries(catalogs)) {
    const existing = await on.runAndReadAll(
      `SELECT view_name FROM duckdb_views() WHERE database_name = ${literal(catalog)} AND NOT internal`,
    );
    for (const [view] of existing.getRows()) {
      if (!(String(view) in tables)) await on.run(`DROP VIEW ${quote(catalog)}.main.${quote(String(view))}`);
    }
    for (const [table, files] of Object.entries(tables)) {
      const name = `${quote(catalog)}.main.${quote(table)}`;
      await on.run(`CREATE OR REPLACE VIEW ${name} AS SELECT * FROM read_parquet([${files.map(literal).join(', ')}])`);
      const comment = comments[catalog]?.[table];
      if (comment?.table) await on.run(`COMMENT ON VIEW ${name} IS ${literal(comment.table)}`);
      for (const [column, text] of Object.entries(comment?.columns ?? {})) {
        await on.run(`COMMENT ON COLUMN ${name}.${quote(column)} IS ${literal(text)}`);
      }
    }
  }
}

/**
 * The tables of the catalogs as a plan's scans see them: columns (from the views), rows and compressed bytes
 * per column (from the Parquet footers, which DuckDB caches).
 */
function scannedTables(): Promise<ScannedTable[]> {
  scanned ??= readScannedTables().catch((error: unknown) => {
    scanned = undefined;
    throw error;
  });
  return scanned;
}

async function readScannedTables(): Promise<ScannedTable[]> {
  const setup = sessions.get('');
  if (!setup) throw new Error('the worker is not open');
  const files = Object.values(catalogs).flatMap((tables) => Object.values(tables).flat());
  const unread = files.filter((file) => !fileSizes.has(file));
  if (unread.length > 0) {
    const list = `[${unread.map(literal).join(', ')}]`;
    const sizes = await setup.runAndReadAll(
      `SELECT file_name, split_part(path_in_schema, ', ', 1), sum(total_compressed_size)::DOUBLE FROM parquet_metadata(${list}) GROUP BY ALL`,
    );
    const rows = await setup.runAndReadAll(`SELECT file_name, num_rows::DOUBLE FROM parquet_file_metadata(${list})`);
    for (const [file, count] of rows.getRows()) fileSizes.set(String(file), { rows: Number(count), columns: {} });
    for (const [file, column, bytes] of sizes.getRows()) {
      const entry = fileSizes.get(String(file));
      if (entry) entry.columns[String(column)] = Number(bytes);
    }
  }
  const columns = await setup.runAndReadAll(
    'SELECT database_name, view_name, column_name, data_type FROM duckdb_columns() c JOIN duckdb_views() v USING (database_name, schema_name) ' +
      'WHERE c.table_name = v.view_name AND NOT v.internal ORDER BY column_index',
  );
  const tables: ScannedTable[] = [];
  for (const [catalog, views] of Object.entries(catalogs)) {
    for (const [table, tableFiles] of Object.entries(views)) {
      const sizes = tableFiles.map((file) => fileSizes.get(file));
      const columnBytes: Record<string, number> = {};
      for (const size of sizes)
        for (const [column, bytes] of Object.entries(size?.columns ?? {})) columnBytes[column] = (columnBytes[column] ?? 0) + bytes;
      tables.push({
        name: `${catalog}.${table}`,
        rows: sizes.reduce((sum, size) => sum + (size?.rows ?? 0), 0),
        columns: columns
          .getRows()
          .filter(([c, v]) => c === catalog && v === table)
          .map(([, , name, type]) => ({ name: String(name), type: String(type) })),
        ...(sizes.every(Boolean) ? { columnBytes } : {}),
      });
    }
  }
  return tables;
}

/**
 * What a SELECT's plan is estimated to scan, in one EXPLAIN on `session`. Tables the SQL names rank first
 * when a scan's columns fit several, those of the session's own catalog before the other's.
 */
async function planScan(session: DuckDBConnection, sessionName: string, sql: string, values: QueryMessage['values'], streamCap: number) {
  const explain = await session.prepare(`EXPLAIN (FORMAT json) ${sql}`);
  if (explain.parameterCount > 0 || values.length > 0) explain.bind(values);
  const result = await explain.runAndReadAll();
  const operators = JSON.parse(String(result.getRows()[0]?.[1])) as DuckOperator[];
  const limits = await statementLimits(session, sql);
  return { operators, scan: await scanOf(operators, sessionName, sql, streamCap, limits) };
}

/**
 * The statement's LIMITs (json_serialize_sql's parse of it, every SELECT at any depth): the largest LIMIT plus its
 * OFFSET, when every one of them is a constant. Undefined with none, with one that is not (a percentage, a
 * parameter, an expression), or with SQL run from a string (query()): DuckDB's plan does not carry a LIMIT's
 * count, so the cap holds only when every LIMIT operator comes from a LIMIT seen here.
 */
async function statementLimits(session: DuckDBConnection, sql: string): Promise<StatementLimits | undefined> {
  const serialize = await session.prepare('SELECT json_serialize_sql($1::VARCHAR)');
  serialize.bind([sql]);
  const parsed = JSON.parse(String((await serialize.runAndReadAll()).getRows()[0]?.[0] ?? '{"error":true}')) as Record<string, unknown>;
  if (parsed.error) return undefined;
  const constant = (expression: unknown): number => {
    const { class: kind, value } = (expression ?? {}) as { class?: string; value?: { is_null?: boolean; value?: unknown } };
    const n = kind === 'CONSTANT' && !value?.is_null ? Number(value?.value) : NaN;
    return n >= 0 ? n : NaN;
  };
  let rows = 0;
  let found = false;
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(walk);
    if (!value || typeof value !== 'object') return;
    const node = value as Record<string, unknown>;
    // query('…') and query_table run SQL the text does not show, with LIMITs of their own: nothing is capped.
    if (typeof node.function_name === 'string' && /^query(_table)?$/i.test(node.function_name)) rows = NaN;
    if (node.type === 'LIMIT_MODIFIER' || node.type === 'LIMIT_PERCENT_MODIFIER') {
      found = true;
      const count = node.type === 'LIMIT_MODIFIER' ? constant(node.limit) : NaN;
      rows = Math.max(rows, count + (node.offset ? constant(node.offset) : 0)); // NaN once any is not a constant
    }
    Object.values(node).forEach(walk);
  };
  walk(parsed.statements);
  return found && Number.isFinite(rows) ? { rows, readAhead: ROW_GROUP_ROWS * threads } : undefined;
}

async function scanOf(
  operators: DuckOperator[],
  sessionName: string,
  sql: string,
  streamCap: number,
  limits: StatementLimits | undefined,
): Promise<PlanScan> {
  const words = new Set(
    tokenize(sql).flatMap((t) => (t.kind === 'word' || t.kind === 'quoted' ? [t.text.replace(/^"|"$/g, '').toLowerCase()] : [])),
  );
  const own = (searchPaths[sessionName]?.[0] ?? '').split('.')[0];
  const preferred = (name: string) => {
    const [catalog = '', table = ''] = name.split('.');
    return (words.has(table.toLowerCase()) ? 0 : 2) + (catalog === own ? 0 : 1);
  };
  return duckPlanScan(operators, await scannedTables(), preferred, streamCap, limits);
}

/** A column's values as JSON: integers that fit as numbers, others as text; ISO times; JSON as JSON. */
function jsonOf(type: DuckDBType): (value: unknown) => unknown {
  if (type.alias === 'JSON') return (value) => (typeof value === 'string' ? (JSON.parse(value) as unknown) : value);
  switch (type.typeId) {
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.UHUGEINT:
      return (value) => {
        if (typeof value !== 'string') return value;
        const n = Number(value);
        return Number.isSafeInteger(n) ? n : value;
      };
    case DuckDBTypeId.TIMESTAMP_TZ:
      return (value) => (typeof value === 'string' && /^\d/.test(value) ? value.replace(' ', 'T').replace(/\+00$/, 'Z') : value);
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_NS:
    case DuckDBTypeId.TIMESTAMP_S:
      return (value) => (typeof value === 'string' && /^\d/.test(value) ? value.replace(' ', 'T') : value);
    default:
      return (value) => value;
  }
}

const typeName = (type: DuckDBType) => type.alias ?? type.toString();

function rowTooLarge(index: number, size: number, maxBytes: number): AppError {
  return new AppError(
    'row_too_large',
    `Row ${index + 1} of the result (offset ${index}) is ${formatBytes(size)}, over the ${formatBytes(maxBytes)} an answer holds, so it cannot be returned. ` +
      `Select less of it: leave out or shorten its large columns (left(col, 1000), length(col), md5(col)), or skip it with offset ${index + 1}.`,
  );
}

/**
 * The byte length of each value of a VARCHAR or BLOB column, read from DuckDB's 16-byte string headers (a
 * little-endian length first) without decoding the value; 0 for NULL. Undefined for other columns, or should
 * the vector not expose its data (the worker's hard memory bound still holds then).
 */
function stringLengths(vector: DuckDBVector): ((row: number) => number) | undefined {
  const id = vector.type.typeId;
  if (id !== DuckDBTypeId.VARCHAR && id !== DuckDBTypeId.BLOB) return undefined;
  const { dataView, validity } = vector as unknown as { dataView?: unknown; validity?: { itemValid?(row: number): boolean } };
  if (!(dataView instanceof DataView) || typeof validity?.itemValid !== 'function') return undefined;
  return (row) => (validity.itemValid?.(row) ? dataView.getUint32(row * 16, true) : 0);
}

async function query(message: QueryMessage): Promise<void> {
  const { id, sql, mode, values, offset, limit, maxBytes, timeoutMs } = message;
  const session = sessions.get(message.session);
  if (!session) return void send({ type: 'error', id, code: 'unavailable', message: `The worker has no session "${message.session}".` });
  const cancelled = cancelledWaiting.has(id);
  for (const waiting of cancelledWaiting) if (waiting <= id) cancelledWaiting.delete(waiting);
  if (cancelled) return void send({ type: 'error', id, code: 'cancelled', message: 'The call was cancelled.' });
  running = { id, session, timer: setTimeout(() => interrupt('timeout'), timeoutMs) };
  try {
    const checked = await checkDuckStatement(session, sql);
    const budget = message.scanBudget && isLimited(message.scanBudget) ? message.scanBudget : undefined;
    if (mode === 'export') {
      if (!message.export) throw new AppError('internal_error', 'export without a target');
      if (checked.kind !== 'select') throw new AppError('sql_refused', 'Export a SELECT: the file is written for you.');
      if (budget) {
        const { scan } = await planScan(session, message.session, sql, values, Infinity);
        assertWithinBudget(scan, budget, 'duckdb');
      }
      const rows = await exportResult(id, session, sql, message.export, values);
      send({ type: 'result', id, columns: [], rows: [], truncated: false, exported: rows });
      return;
    }
    if (mode === 'check') {
      send({ type: 'result', id, columns: [], rows: [], truncated: false, parameters: checked.prepared.parameterCount });
      return;
    }
    let prepared = checked.prepared;
    if (mode === 'explain' || mode === 'explain_analyze') {
      if (checked.kind !== 'select') throw new AppError('sql_refused', 'Send the SELECT itself: the plan is made for you.');
      if (mode === 'explain') {
        const { operators, scan } = await planScan(session, message.session, sql, values, ROW_GROUP_ROWS * threads);
        send({ type: 'result', id, columns: [], rows: [], truncated: false, plan: operators, scan });
        return;
      }
      prepared = await session.prepare(`EXPLAIN (ANALYZE, FORMAT json) ${sql}`);
    }
    // The cost guard: a statement that would run (EXPLAIN ANALYZE runs its SELECT) is planned first, here, and
    // refused when its estimated scan passes the budget. Without a budget no plan is made.
    // explain_sql with analyze shows the estimate too.
    // A PRAGMA reads the catalog only, and DuckDB cannot EXPLAIN it.
    const runs =
      mode === 'explain_analyze' ? sql : checked.kind === 'explain' ? ANALYZED.exec(sql)?.[1] : PRAGMA.test(sql) ? undefined : sql;
    let scan: PlanScan | undefined;
    if ((budget || mode === 'explain_analyze') && runs !== undefined) {
      const streamCap = mode === 'rows' && checked.kind === 'select' ? ROW_GROUP_ROWS * threads + offset + limit : Infinity;
      scan = (await planScan(session, message.session, runs, values, streamCap)).scan;
      if (budget) assertWithinBudget(scan, budget, 'duckdb');
    }
    if (prepared.parameterCount > 0 || values.length > 0) prepared.bind(values);
    if (mode !== 'rows') {
      const result = await prepared.runAndReadAll();
      const text = result.getRows()[0]?.[1];
      send({
        type: 'result',
        id,
        columns: [],
        rows: [],
        truncated: false,
        plan: JSON.parse(String(text)) as unknown,
        ...(scan ? { scan } : {}),
      });
      return;
    }
    const result = await prepared.stream();
    const names = result.columnNames();
    const types = result.columnTypes();
    const convert = types.map(jsonOf);
    const rows: unknown[][] = [];
    let index = 0;
    let bytes = 0;
    let truncated = false;
    reading: for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      const lengths = Array.from({ length: chunk.columnCount }, (_, c) => stringLengths(chunk.getColumnVector(c)));
      for (let r = 0; r < chunk.rowCount; r++, index++) {
        if (index < offset) continue;
        if (rows.length >= limit) {
          truncated = true;
          break reading;
        }
        // A huge text is measured from DuckDB's string header, never decoded: it would not fit in the answer anyway.
        const known = lengths.reduce((n, length) => n + (length?.(r) ?? 0), 0);
        const row =
          known > maxBytes
            ? undefined
            : chunk.convertRowValues(r, JsonDuckDBValueConverter).map((v, c) => (v === null ? null : (convert[c] ?? String)(v)));
        const size = row ? JSON.stringify(row).length + 1 : known;
        if (!row || bytes + size > maxBytes) {
          if (rows.length === 0) throw rowTooLarge(index, size, maxBytes);
          truncated = true;
          break reading;
        }
        rows.push(row);
        bytes += size;
      }
    }
    send({
      type: 'result',
      id,
      columns: names.map((name, i) => ({ name, type: types[i] ? typeName(types[i]) : 'UNKNOWN' })),
      rows,
      truncated,
    });
  } catch (error) {
    const stop = running?.stop;
    if (stop === 'too_large') send({ type: 'error', id, code: 'export_too_large', message: 'The result reached its size cap.' });
    else if (stop === 'cancel') send({ type: 'error', id, code: 'cancelled', message: 'The call was cancelled.' });
    else send({ type: 'error', id, ...toFailure(error, stop === 'timeout', timeoutMs, sql) });
  } finally {
    clearTimeout(running?.timer);
    clearInterval(running?.repeat);
    running = undefined;
  }
}

/**
 * Writes the whole result of a checked SELECT to `target.file` with DuckDB's COPY, and answers the rows
 * written. The SELECT is wrapped as `COPY (<sql>\n) TO '<file>'`: it parsed alone as one statement, so its
 * parentheses, quotes and comments are closed and it cannot reach past the wrapper; the wrapped text is still
 * checked to be exactly one COPY. The file is measured while it grows: past its cap the statement is stopped.
 */
async function exportResult(
  id: number,
  session: DuckDBConnection,
  sql: string,
  target: ExportTarget,
  values: QueryMessage['values'],
): Promise<number> {
  const select = sql.replace(/;\s*$/, '');
  const options = target.format === 'csv' ? 'FORMAT csv, HEADER true' : 'FORMAT parquet, COMPRESSION zstd';
  const extracted = await session.extractStatements(`COPY (${select}\n) TO ${literal(target.file)} (${options})`);
  const prepared = extracted.count === 1 ? await extracted.prepare(0) : undefined;
  if (prepared?.statementType !== StatementType.COPY) {
    throw new AppError('sql_refused', 'Export one SELECT without anything after it (no trailing comment after a semicolon).');
  }
  if (prepared.parameterCount > 0 || values.length > 0) prepared.bind(values);
  let rowsRead = 0;
  const watch = setInterval(() => {
    // Progress for a query job's status: the rows DuckDB has read so far (-1 and 0 until it knows).
    const read = Number(session.progress.rows_processed);
    if (read > rowsRead) send({ type: 'progress', id, rowsRead: (rowsRead = read) });
    let size = 0;
    try {
      size = fs.statSync(target.file).size;
    } catch {
      return; // not created yet
    }
    if (size > target.maxBytes) interrupt('too_large');
  }, EXPORT_CHECK_MS);
  try {
    const result = await prepared.runAndReadAll();
    return Number(result.getRows()[0]?.[0] ?? 0);
  } finally {
    clearInterval(watch);
  }
}

/**
 * Stops the running call. DuckDB forgets an interrupt that comes between two statements of one call (its check,
 * its plan, its run): a cancel heard then was lost, and the statement ran on to its timeout. So the interrupt is
 * repeated until the call ends.
 */
function interrupt(reason: 'timeout' | 'cancel' | 'too_large'): void {
  const call = running;
  if (!call) return;
  call.stop ??= reason;
  call.session.interrupt();
  call.repeat ??= setInterval(() => call.session.interrupt(), INTERRUPT_REPEAT_MS);
}

/** One statement at a time, in arrival order. */
let queue = Promise.resolve();

process.on('message', (message: ToWorker) => {
  if (message.type === 'cancel') {
    if (running?.id === message.id) interrupt('cancel');
    else if (message.id > (running?.id ?? 0)) cancelledWaiting.add(message.id);
    return;
  }
  queue = queue.then(async () => {
    if (message.type === 'define') {
      try {
        const setup = sessions.get('');
        if (!setup) throw new Error('the worker is not open');
        await define(setup, message.catalogs);
        catalogs = message.catalogs;
        scanned = undefined;
        const current = new Set(Object.values(catalogs).flatMap((tables) => Object.values(tables).flat()));
        for (const file of fileSizes.keys()) if (!current.has(file)) fileSizes.delete(file);
        send({ type: 'defined', id: message.id });
      } catch (error) {
        send({ type: 'error', id: message.id, code: 'unavailable', message: error instanceof Error ? error.message : String(error) });
      }
      return;
    }
    if (message.type === 'open') {
      try {
        await open(message);
        send({ type: 'ready' });
      } catch (error) {
        send({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
      }
      return;
    }
    await query(message);
  });
});

// The serving process went away: so does the worker.
process.on('disconnect', () => process.exit(0));
