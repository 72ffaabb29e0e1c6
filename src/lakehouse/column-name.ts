import { AppError, type ErrorCode } from '../errors.js';

// What the loaders (src/lakehouse/load.ts into PostgreSQL, src/lakehouse/duckdb/import.ts into Parquet) share
// about their input: how a refusal names its line, and how a column name is normalized. Kept apart from
// load.ts so that the DuckDB import process does not load pg for it.

/** A refused load: what is wrong and, when it is about one place in the input, its line (1-based). */
export class LoadError extends AppError {
  constructor(
    message: string,
    readonly line?: number,
    code: ErrorCode = 'invalid_load',
  ) {
    super(code, line === undefined ? message : `line ${line}: ${message}`);
  }
}

/** A column name as it will be queried: lowercase, `_` for anything else, never starting with a digit. */
export function columnName(raw: string, line: number): string {
  let name = raw
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (/^[0-9]/.test(name)) name = `_${name}`;
  if (name === '' || name.length > 63) throw new LoadError(`the column name "${raw}" is empty or longer than 63 characters`, line);
  return name;
}
