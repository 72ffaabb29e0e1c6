// The messages between a serving process and a DuckDB worker process (src/lakehouse/duckdb/worker.ts and
// worker-main.ts), over the child's IPC channel. JSON only: nothing but these crosses the boundary.

/** Catalog → table → its Parquet files (inside `allowedDirectories`); each table is a view over its files. */
export type Catalogs = Record<string, Record<string, string[]>>;

export interface OpenMessage {
  type: 'open';
  /** The catalogs (in-memory databases of views) made before the configuration is locked. */
  catalogs: Catalogs;
  /** Where unqualified names are looked up, e.g. `['lakehouse.main', 'sample.main']`. */
  searchPath: string[];
  /** The only folders the worker's DuckDB may read (with a trailing slash). */
  allowedDirectories: string[];
  /** Where DuckDB may spill, bounded by `maxTempDirectorySize`. */
  tempDirectory: string;
  maxTempDirectorySize: string;
  /** DuckDB's own (soft) limit, e.g. `256MB`; the serving process enforces a hard one on the process. */
  memoryLimit: string;
  threads: number;
}

export interface QueryMessage {
  type: 'query';
  id: number;
  sql: string;
  /** At most this many rows come back; one more is read to tell whether there were more. */
  limit: number;
  /** At most this many bytes of rows (as JSON) come back. */
  maxBytes: number;
  timeoutMs: number;
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
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'defined'; id: number }
  | ({ type: 'result'; id: number } & DuckRows)
  | { type: 'error'; id: number; code: string; message: string };
