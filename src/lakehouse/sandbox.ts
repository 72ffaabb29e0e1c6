import type { Kysely } from 'kysely';
import pg from 'pg';
import type { Database } from '../db/schema.js';
import { AppError, notFound, type ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import { jsonTypes, TYPE_NAMES } from './json-types.js';
import { openSealedUrl } from './connections.js';
import { checkReadStatement, loadSqlParser, type CheckedStatement } from './sql-guard.js';
import { PipelinedStatement, type RowWindow, type StatementRows } from './pipelined-statement.js';
import { formatBytes } from './format-bytes.js';
import { guardMessageSizes, messageSizeGuardOf } from './message-size-guard.js';
import { CsvFileWriter } from './results/csv-file.js';

// The SQL sandbox of external PostgreSQL connections (docs/sql-sandbox.md); the built-in connections run on
// DuckDB (src/lakehouse/duckdb/). Every user statement runs:
//  - on a pooled connection of the external connection's user,
//  - inside BEGIN READ ONLY with statement_timeout, lock_timeout and idle_in_transaction_session_timeout
//    set by trusted set-up statements of our own,
//  - as exactly one statement through the extended protocol (PostgreSQL refuses several statements in one
//    Parse), reading at most cap + 1 rows through its portal,
//  - then ROLLBACK and the equivalent of DISCARD ALL, or the connection is dropped when anything went wrong.
// query() and explain() send all of that in one socket write and one round trip (pipelined-statement.ts
// says why that is as safe as one round trip per step); the reset is still awaited before the answer, so
// that an answer means its session is clean (no advisory lock outlives the call). Every user statement goes
// that way, with its bind values. withSandbox() serves our own trusted queries that must see what the role
// sees (the catalog): set-up, the caller's queries and the reset one after another.
// At most `sqlConcurrency` statements run at once per environment (the rest fail fast as busy), and all
// pools together keep at most `maxConnections` connections, evicting idle pools first.

/** ROLLBACK, then DISCARD ALL spelled out (https://www.postgresql.org/docs/17/sql-discard.html), in one string. */
const RESET_SESSION =
  'ROLLBACK; CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; DEALLOCATE ALL; UNLISTEN *; ' +
  'SELECT pg_advisory_unlock_all(); DISCARD PLANS; DISCARD TEMP; DISCARD SEQUENCES';
/** The same reset as two Query messages of a pipeline (DISCARD ALL runs alone, outside a transaction block). */
export const RESET_QUERIES = ['ROLLBACK', 'DISCARD ALL'] as const;

export interface PostgresSandboxOptions {
  /** Opens the connections' sealed URLs. */
  secretKey: Buffer;
  sqlConcurrency: number;
  /** All sandbox connections of this process together (default 40: well inside max_connections = 100). */
  maxConnections?: number;
  /** A pool unused this long is closed (default 60 s). */
  idleMs?: number;
  log: Logger;
}

export interface RunOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

export interface Column {
  name: string;
  type: string;
}

export interface QueryResult {
  columns: Column[];
  rows: unknown[][];
  row_count: number;
  truncated: boolean;
  next_offset?: number;
  elapsed_ms: number;
}

interface Target {
  key: string;
  config: pg.PoolConfig;
}

interface PoolEntry {
  pool: pg.Pool;
  config: pg.PoolConfig;
  lastUsed: number;
  active: number;
  typeNames: Map<number, string>;
}

/** A checked-out sandbox connection for one call. */
interface Lease {
  client: pg.PoolClient;
  entry: PoolEntry;
  target: Target;
  /** Cancelled or failed: the connection is dropped, not reset. */
  broken: boolean;
  /** The session was reset already (by a pipelined statement): release it as it is. */
  reset: boolean;
}

/** The trusted set-up of every sandboxed statement: a READ ONLY transaction, its timeouts, UTC. */
function setupStatements(timeoutMs: number): string[] {
  const timeout = Math.max(1, Math.round(timeoutMs));
  return [
    'BEGIN READ ONLY',
    `SET LOCAL statement_timeout = ${timeout}`,
    `SET LOCAL lock_timeout = ${Math.min(timeout, 5_000)}`,
    `SET LOCAL idle_in_transaction_session_timeout = ${timeout + 10_000}`,
    "SET LOCAL TimeZone = 'UTC'",
  ];
}

/** A refusal with the PostgreSQL error's message, position and hint (not an internal error). */
export class SqlError extends AppError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly position?: number,
    readonly hint?: string,
    readonly sqlState?: string,
  ) {
    super(code, message);
  }
}

const PG_ERROR = /^[0-9A-Z]{5}$/;
/** PostgreSQL's messages may quote a value whole (`invalid input syntax for type integer: "xxx…"`). */
const MAX_ERROR_MESSAGE = 2_000;

function clip(text: string): string {
  return text.length <= MAX_ERROR_MESSAGE
    ? text
    : `${text.slice(0, MAX_ERROR_MESSAGE)}… (${text.length - MAX_ERROR_MESSAGE} more characters)`;
}

/** The first row an answer should hold is alone over its byte cap: say which, and how to get less of it. */
function rowTooLarge(index: number, bytes: number, cap: number): AppError {
  return new AppError(
    'row_too_large',
    `Row ${index + 1} of the result (offset ${index}) is ${formatBytes(bytes)}, over the ${formatBytes(cap)} an answer holds, so it cannot be returned. ` +
      `Select less of it: leave out or shorten its large columns (left(col, 1000), length(col), md5(col)), or skip it with offset ${index + 1}.`,
  );
}

function isPgError(error: unknown): error is pg.DatabaseError {
  return (
    error instanceof Error &&
    typeof (error as { code?: unknown }).code === 'string' &&
    PG_ERROR.test((error as unknown as { code: string }).code)
  );
}

export class PostgresSandbox {
  private readonly pools = new Map<string, PoolEntry>();
  private readonly running = new Map<string, number>();
  private readonly maxConnections: number;
  private readonly idleMs: number;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(
    readonly db: Kysely<Database>,
    readonly options: PostgresSandboxOptions,
  ) {
    this.maxConnections = options.maxConnections ?? 40;
    this.idleMs = options.idleMs ?? 60_000;
    this.sweeper = setInterval(() => this.evictIdle(), Math.min(this.idleMs, 10_000)).unref();
  }

  /** Loads the SQL parser the guard uses. */
  async init(): Promise<this> {
    await loadSqlParser();
    return this;
  }

  /** Where an external connection of an environment runs (its sealed URL, opened). */
  async target(environmentId: string, connection: string): Promise<Target> {
    const key = `${environmentId}:${connection}`;
    const existing = this.pools.get(key);
    if (existing) return { key, config: existing.config };
    const row = await this.db
      .selectFrom('connections')
      .select(['sealed_url'])
      .where('environment_id', '=', environmentId)
      .where('name', '=', connection)
      .executeTakeFirst();
    if (!row) {
      throw notFound(`No connection "${connection}" in this environment. list_connections names them; lakehouse and sample always exist.`);
    }
    const url = openSealedUrl(this.options.secretKey, row.sealed_url, environmentId, connection);
    return { key, config: { connectionString: url } };
  }

  /**
   * Runs `work` on a sandbox connection inside a READ ONLY transaction with the timeouts set, then rolls
   * back and resets the session (or drops the connection). Cancels the running statement on abort.
   */
  async withSandbox<T>(
    environmentId: string,
    connection: string,
    options: RunOptions,
    work: (client: pg.PoolClient, entry: PoolEntry) => Promise<T>,
  ): Promise<T> {
    return this.lease(environmentId, connection, options, async ({ client, entry }) => {
      await client.query(setupStatements(options.timeoutMs).join('; '));
      return work(client, entry);
    });
  }

  /**
   * Checks out a sandbox connection of the environment (within SQL_CONCURRENCY) and runs `work` on it, with
   * the cancel wiring (abort signal, backstop timer); afterwards resets the session, unless `work` says it
   * did (`lease.reset`), or drops the connection when anything went wrong.
   */
  private async lease<T>(environmentId: string, connection: string, options: RunOptions, work: (lease: Lease) => Promise<T>): Promise<T> {
    if (this.closed) throw new AppError('unavailable', 'The server is shutting down.');
    const running = this.running.get(environmentId) ?? 0;
    if (running >= this.options.sqlConcurrency) {
      throw new AppError(
        'busy',
        `This environment already runs ${running} SQL statements, its limit (SQL_CONCURRENCY); retry in a moment.`,
        { headers: { 'Retry-After': '1' } },
      );
    }
    this.running.set(environmentId, running + 1);
    let client: pg.PoolClient | undefined;
    let entry: PoolEntry | undefined;
    let lease: Lease | undefined;
    let cancelled = false;
    const cancel = () => {
      if (!client || !lease || cancelled) return;
      cancelled = true;
      lease.broken = true;
      this.cancelBackend(client, entry?.config ?? {});
    };
    let timer: NodeJS.Timeout | undefined;
    try {
      options.signal?.throwIfAborted();
      const target = await this.target(environmentId, connection);
      entry = this.pool(target);
      entry.active += 1;
      entry.lastUsed = Date.now();
      client = await entry.pool.connect().catch((error: unknown) => {
        throw this.connectError(error, connection);
      });
      lease = { client, entry, target, broken: false, reset: false };
      options.signal?.addEventListener('abort', cancel, { once: true });
      if (options.signal?.aborted) cancel();
      // Statement timeout in PostgreSQL, and a backstop here should the server not answer it.
      timer = setTimeout(cancel, options.timeoutMs + 2_000);
      return await work(lease);
    } catch (error) {
      if (options.signal?.aborted)
        throw options.signal.reason instanceof Error ? options.signal.reason : new AppError('cancelled', 'The call was cancelled.');
      const guardFailure = client && messageSizeGuardOf(client)?.failure;
      if (guardFailure && lease) lease.broken = true;
      throw guardFailure || this.mapError(error, options.timeoutMs);
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', cancel);
      if (entry) {
        entry.active -= 1;
        entry.lastUsed = Date.now();
      }
      if (client) await this.release(client, lease?.broken ?? true, lease?.reset ?? false);
      this.running.set(environmentId, (this.running.get(environmentId) ?? 1) - 1);
    }
  }

  /**
   * One checked statement on a sandbox connection in one round trip (pipelined-statement.ts): set-up, the
   * statement's rows in `window`, Sync and the session reset; answers once the reset has answered too.
   */
  private async runPipelined(
    lease: Lease,
    text: string,
    values: readonly unknown[],
    window: RowWindow,
    timeoutMs: number,
    onFields?: (fields: pg.FieldDef[]) => void,
  ): Promise<StatementRows> {
    const statement = new PipelinedStatement(lease.client, setupStatements(timeoutMs), text, values, window, jsonTypes, RESET_QUERIES);
    if (onFields) statement.onFields = onFields;
    lease.client.query(statement);
    try {
      const result = await statement.result;
      if (result.tooLarge && result.rows.length === 0) throw rowTooLarge(result.tooLarge.index, result.tooLarge.bytes, statement.rowCap);
      return result;
    } finally {
      // A cancelled statement's connection is dropped; otherwise the reset (already on the wire) is awaited.
      if (!lease.broken) {
        const resetError = await statement.reset;
        if (resetError) lease.broken = true;
        else lease.reset = true;
      }
    }
  }

  /**
   * ROLLBACK and a reset of the session, in one simple-protocol round trip of our own statements (unless
   * the caller reset it already). DISCARD ALL refuses to run in a multi-statement string (it cannot run in
   * a transaction block), so RESET_SESSION spells out what the PostgreSQL documentation says it is
   * equivalent to; the advisory locks and session settings a user's SELECT could leave behind
   * (pg_advisory_lock, set_config) go with it.
   */
  private async release(client: pg.PoolClient, broken: boolean, alreadyReset: boolean): Promise<void> {
    if (broken) {
      client.release(true);
      return;
    }
    if (alreadyReset) {
      client.release();
      return;
    }
    try {
      await client.query(RESET_SESSION);
      client.release();
    } catch (error) {
      client.release(error instanceof Error ? error : true);
    }
  }

  /** A protocol-level cancel request (needs no privilege; works for external servers too). */
  private cancelBackend(client: pg.PoolClient, config: pg.PoolConfig): void {
    try {
      const canceller = new pg.Client(config) as unknown as { cancel(victim: unknown, query: unknown): void };
      canceller.cancel(client, (client as unknown as { activeQuery: unknown }).activeQuery);
    } catch (error) {
      this.options.log.warn({ err: error }, 'sandbox: cancel request failed');
    }
  }

  private pool(target: Target): PoolEntry {
    let entry = this.pools.get(target.key);
    if (entry) return entry;
    const total = () => [...this.pools.values()].reduce((n, e) => n + e.pool.totalCount, 0);
    while (total() + this.options.sqlConcurrency > this.maxConnections) {
      const idle = [...this.pools.entries()].filter(([, e]) => e.active === 0).sort(([, a], [, b]) => a.lastUsed - b.lastUsed)[0];
      if (!idle) {
        throw new AppError('unavailable', `The server runs its maximum of ${this.maxConnections} sandbox connections; retry in a moment.`, {
          headers: { 'Retry-After': '1' },
        });
      }
      this.pools.delete(idle[0]);
      void idle[1].pool.end();
    }
    const pool = new pg.Pool({
      ...target.config,
      max: this.options.sqlConcurrency,
      idleTimeoutMillis: this.idleMs,
      connectionTimeoutMillis: 10_000,
      application_name: 'lakehouse-mcp sandbox',
      types: jsonTypes,
    });
    pool.on('error', () => undefined);
    pool.on('connect', (client) => {
      // As in src/db/database.ts createPool: a checked-out client that loses its server must not crash the process.
      client.on('error', () => undefined);
      guardMessageSizes(client);
    });
    entry = { pool, config: target.config, lastUsed: Date.now(), active: 0, typeNames: new Map() };
    this.pools.set(target.key, entry);
    return entry;
  }

  private evictIdle(): void {
    const now = Date.now();
    for (const [key, entry] of this.pools) {
      if (entry.active === 0 && now - entry.lastUsed > this.idleMs) {
        this.pools.delete(key);
        void entry.pool.end();
      }
    }
  }

  /** Open pools and their connections (for tests and metrics). */
  stats(): { pools: number; connections: number; running: Record<string, number> } {
    return {
      pools: this.pools.size,
      connections: [...this.pools.values()].reduce((n, e) => n + e.pool.totalCount, 0),
      running: Object.fromEntries(this.running),
    };
  }

  private connectError(error: unknown, connection: string): AppError {
    const reason = error instanceof Error ? error.message : String(error);
    this.options.log.warn({ err: error, connection }, 'sandbox: cannot connect');
    return new AppError('connection_failed', `Cannot connect to "${connection}": ${reason.replace(/password[^\s]*/gi, '***')}`);
  }

  private mapError(error: unknown, timeoutMs: number): unknown {
    if (!isPgError(error)) return error;
    const position = error.position ? Number(error.position) : undefined;
    if (error.code === '57014') {
      return new SqlError(
        'query_timeout',
        `The statement ran past its ${timeoutMs} ms timeout and was cancelled. Narrow it (a time range, LIMIT) or raise timeout_ms (at most 60000).`,
      );
    }
    if (error.code === '42501') {
      return new SqlError(
        'permission_denied',
        `${clip(error.message)}. This environment may read only its own tables and the sample data.`,
        position,
        error.hint,
        error.code,
      );
    }
    if (error.code === '25006') {
      return new SqlError('read_only', `${clip(error.message)}: the sandbox only reads.`, position, error.hint, error.code);
    }
    return new SqlError(
      'sql_error',
      clip(`${error.message}${error.hint ? ` (${error.hint})` : ''}`),
      position,
      error.hint && clip(error.hint),
      error.code,
    );
  }

  /** Type names of result columns, from pg_type for OIDs not known by heart (cached per pool). */
  private async typeNames(client: pg.PoolClient, entry: PoolEntry, fields: pg.FieldDef[]): Promise<Column[]> {
    const unknown = fields.map((f) => f.dataTypeID).filter((oid) => !(oid in TYPE_NAMES) && !entry.typeNames.has(oid));
    if (unknown.length > 0) {
      const found = await client.query<{ oid: number; name: string }>(
        'SELECT oid::int AS oid, format_type(oid, NULL) AS name FROM pg_type WHERE oid = ANY($1::oid[])',
        [unknown],
      );
      for (const row of found.rows) entry.typeNames.set(row.oid, row.name);
    }
    return fields.map((f) => ({ name: f.name, type: TYPE_NAMES[f.dataTypeID] ?? entry.typeNames.get(f.dataTypeID) ?? 'unknown' }));
  }

  /** query_lakehouse: one checked read statement, its rows read through a portal, row and byte caps. */
  async query(
    environmentId: string,
    connection: string,
    rawSql: string,
    options: RunOptions & {
      limit: number;
      offset: number;
      maxBytes: number;
      /** Bind parameters ($1…) of the statement. */ values?: readonly unknown[];
    },
  ): Promise<QueryResult> {
    const checked = checkReadStatement(rawSql);
    const started = performance.now();
    return this.lease(environmentId, connection, options, async (lease) => {
      const { offset, limit, maxBytes } = options;
      const { fields, rows, truncated } = await this.runPipelined(
        lease,
        checked.text,
        options.values ?? [],
        { offset, limit, maxBytes },
        options.timeoutMs,
      );
      // After the reset: a catalog lookup of our own, on a clean session (only for OIDs not seen before).
      const columns = await this.typeNames(lease.client, lease.entry, fields);
      return {
        columns,
        rows,
        row_count: rows.length,
        truncated,
        ...(truncated ? { next_offset: offset + rows.length } : {}),
        elapsed_ms: Math.round((performance.now() - started) * 10) / 10,
      };
    });
  }

  /**
   * An export: the whole result of one checked read statement streamed to `target.file` as CSV (PostgreSQL's
   * text of each value, a header of column names), under the same sandbox and timeout as query(), at most
   * `target.maxBytes` (then `export_too_large`). Parquet needs DuckDB: refused here.
   */
  async exportTo(
    environmentId: string,
    connection: string,
    rawSql: string,
    target: { file: string; format: 'csv' | 'parquet'; maxBytes: number },
    options: RunOptions & { values?: readonly unknown[] },
  ): Promise<{ rows: number }> {
    if (target.format !== 'csv') {
      throw new AppError('validation_failed', `External connections export "csv" only; "${target.format}" needs a built-in connection.`);
    }
    const checked = checkReadStatement(rawSql);
    const out = new CsvFileWriter(target.file, target.maxBytes);
    try {
      const result = await this.lease(environmentId, connection, options, (lease) =>
        this.runPipelined(
          lease,
          checked.text,
          options.values ?? [],
          { offset: 0, limit: Number.MAX_SAFE_INTEGER - 1, maxBytes: Infinity, sink: (fields) => out.row(fields) },
          options.timeoutMs,
          (fields) => out.header(fields.map((f) => f.name)),
        ),
      );
      if (out.overflowed) throw new AppError('export_too_large', 'The result reached its size cap.');
      out.header(result.fields.map((f) => f.name));
      return { rows: out.rows };
    } finally {
      out.close();
    }
  }

  /**
   * EXPLAIN (FORMAT JSON) of a checked statement; with `analyze`, it runs under the same sandbox rules.
   * `values` binds its parameters ($1…); without ANALYZE, NULLs plan a statement whose values are not known yet.
   */
  async explain(
    environmentId: string,
    connection: string,
    checked: CheckedStatement,
    options: RunOptions & { analyze: boolean; values?: readonly unknown[] },
  ): Promise<unknown> {
    const prefix = options.analyze ? 'EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ' : 'EXPLAIN (FORMAT JSON) ';
    return this.lease(environmentId, connection, options, async (lease) => {
      try {
        const { rows } = await this.runPipelined(
          lease,
          prefix + checked.text,
          options.values ?? [],
          { offset: 0, limit: 1, maxBytes: Infinity },
          options.timeoutMs,
        );
        return (rows[0]?.[0] as unknown[] | undefined)?.[0];
      } catch (error) {
        if (isPgError(error) && error.position) {
          (error as { position: string }).position = String(Math.max(1, Number(error.position) - prefix.length));
        }
        throw error;
      }
    });
  }

  /** Closes every pool. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((e) => e.pool.end().catch(() => undefined)));
  }
}
