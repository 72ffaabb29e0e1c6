import type { ScanBudget } from '../scan-budget.js';
import type { PlanScan } from '../scan-estimate.js';

// The messages between a serving process and a DuckDB worker process (src/lakehouse/duckdb/worker.ts and
// worker-main.ts), over the child's IPC channel. JSON only: nothing but these crosses the boundary.

/** Catalog → table → its Parquet files (inside `allowedDirectories`); each table is a view over its files. */
export type Catalogs = Record<string, Record<string, string[]>>;

export interface OpenMessage {
  type: 'open';
  /** The catalogs (in-memory databases of views) made before the configuration is locked. */
  catalogs: Catalogs;
  /**
   * One session per entry: the catalog whose names resolve first, and the search path of that session, e.g.
   * `{ lakehouse: ['lakehouse.main', 'sample.main'], sample: ['sample.main', 'lakehouse.main'] }`.
   */
  searchPaths: Record<string, string[]>;
  /** Comments on tables and columns, by catalog and table (the sample's), set before the lock. */
  comments?: Record<string, Record<string, TableComment>>;
  /** The only folders the worker's DuckDB may read (with a trailing slash). */
  allowedDirectories: string[];
  /** Where DuckDB may spill, bounded by `maxTempDirectorySize`. */
  tempDirectory: string;
  maxTempDirectorySize: string;
  /** DuckDB's own (soft) limit, e.g. `256MB`; the serving process enforces a hard one on the process. */
  memoryLimit: string;
  threads: number;
}

export interface TableComment {
  table?: string;
  columns?: Record<string, string>;
}

/**
 * What a query message asks: `rows` runs it; `check` prepares it (nothing runs) and answers its parameter
 * count; `explain` and `explain_analyze` answer DuckDB's JSON plan of the statement (a SELECT); `export`
 * writes its whole result to `export.file` (a SELECT, wrapped in a COPY by the worker).
 */
export type QueryMode = 'rows' | 'check' | 'explain' | 'explain_analyze' | 'export';

/** Where and how an `export` writes: a file the serving process chose, inside `allowedDirectories`. */
export interface ExportTarget {
  file: string;
  format: 'csv' | 'parquet';
  /** The file may not grow past this: the statement is stopped and fails with `export_too_large`. */
  maxBytes: number;
}

export interface QueryMessage {
  type: 'query';
  id: number;
  sql: string;
  mode: QueryMode;
  /** The session (a key of `searchPaths`) it runs in: whose names resolve first. */
  session: string;
  /** Values of $1, $2…: strings are cast by DuckDB to the parameter's type. */
  values: (string | number | boolean | null)[];
  /** Rows skipped before the answer's first. */
  offset: number;
  /** At most this many rows come back; one more is read to tell whether there were more. */
  limit: number;
  /** At most this many bytes of rows (as JSON) come back. */
  maxBytes: number;
  timeoutMs: number;
  /**
   * `rows` (and EXPLAIN ANALYZE): refuse the statement before it runs when its plan's estimated scan passes
   * this budget (scan_budget_exceeded); absent: unlimited, and no plan is made.
   */
  scanBudget?: ScanBudget;
  /** `export` mode: the target. */
  export?: ExportTarget;
}

/** Redefines the catalogs' views (a table got a new version): views of tables no longer listed are dropped. */
export interface DefineMessage {
  type: 'define';
  id: number;
  catalogs: Catalogs;
}

export interface CancelMessage {
  type: 'cancel';
  id: number;
}

export type ToWorker = OpenMessage | QueryMessage | DefineMessage | CancelMessage;

export interface DuckColumn {
  name: string;
  type: string;
}

export interface DuckRows {
  columns: DuckColumn[];
  /** Values as JSON: BIGINT and DECIMAL as strings, times as ISO text, nested types as JSON. */
  rows: unknown[][];
  /** More rows (or bytes) were there than came back. */
  truncated: boolean;
  /** `check`: how many parameters ($1…) the statement takes. */
  parameters?: number;
  /** `explain`/`explain_analyze`: DuckDB's JSON plan. */
  plan?: unknown;
  /** `explain`: what the plan is estimated to scan. */
  scan?: PlanScan;
  /** `export`: the rows written. */
  exported?: number;
}

/** A refusal or failure of one statement: an error code of src/errors.ts, and where DuckDB points. */
export interface DuckFailure {
  code: string;
  message: string;
  /** 1-based character position in the statement. */
  position?: number;
  hint?: string;
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'defined'; id: number }
  | ({ type: 'result'; id: number } & DuckRows)
  /** `export` mode, while it runs: the rows DuckDB has read so far (its query progress). */
  | { type: 'progress'; id: number; rowsRead: number }
  | ({ type: 'error'; id: number } & DuckFailure);
