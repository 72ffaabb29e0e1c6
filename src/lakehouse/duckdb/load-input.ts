import { AppError, type ErrorCode } from '../../errors.js';

// What the importer (import.ts, in the serving process) and its DuckDB process (import-main.ts) share about
// their input: which table names are valid, how a refusal names its line, how a column name is normalized.

export const TABLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

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
