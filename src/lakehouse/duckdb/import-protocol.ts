// The messages between the serving process and an import process (src/lakehouse/duckdb/import.ts and
// import-main.ts), over the child's IPC channel: one request, one answer, then the child exits.

export type ImportFormat = 'csv' | 'ndjson' | 'parquet';

export interface ImportColumn {
  name: string;
  type: string;
}

export interface ImportRequest {
  type: 'import';
  format: ImportFormat;
  /** The spooled upload. */
  input: string;
  /** The Parquet file to write (the one TableStore.write hands out). */
  output: string;
  /** The columns of the table appended to; absent for a new table. */
  existing?: ImportColumn[];
  /** The table's name, for messages. */
  table: string;
  /** Where DuckDB may spill, bounded by `maxTempDirectorySize`. */
  tempDirectory: string;
  maxTempDirectorySize: string;
  /** DuckDB's own (soft) limit, e.g. `1024MB`; the serving process holds the process to a hard one. */
  memoryLimit: string;
  threads: number;
}

export type FromImport =
  { type: 'done'; rows: number; columns: ImportColumn[] } | { type: 'error'; code: string; message: string; line?: number | undefined };
