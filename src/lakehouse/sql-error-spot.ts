import { AppError, type SqlErrorSpot } from '../errors.js';

// One shape for every SQL error, whichever engine or check found it (DuckDB's worker, the PostgreSQL
// sandbox, the statement guard): the position in the caller's SQL, its line and column, and the engine's
// hint, as fields (AppError.sql) and in the message an agent reads.

/** The problem of a statement as validate_sql lists it. */
export interface SqlProblem extends SqlErrorSpot {
  message: string;
}

/** An error of a statement, from the engine or the guard: its own message and where it is. */
export interface RawSqlProblem {
  message: string;
  position?: number | undefined;
  hint?: string | undefined;
}

/** The 1-based line and column of a 1-based character position in `sql`. */
export function lineAndColumn(sql: string, position: number): { line: number; column: number } {
  const before = sql.slice(0, Math.max(0, position - 1));
  const lastBreak = before.lastIndexOf('\n');
  return { line: before.split('\n').length, column: position - (lastBreak + 1) };
}

/** A 1-based position moved into `sql` and past white space (a statement's location starts after the `;` before it). */
function onToken(sql: string, position: number): number {
  let at = Math.min(sql.length + 1, Math.max(1, position));
  while (at <= sql.length && /\s/.test(sql[at - 1] ?? '')) at += 1;
  return at > sql.length ? Math.min(sql.length + 1, Math.max(1, position)) : at;
}

/** The problem with its position moved by `offset` (into the caller's SQL), its line, column and hint. */
export function sqlProblem(raw: RawSqlProblem, sql: string, offset = 0): SqlProblem {
  const position = raw.position === undefined ? undefined : onToken(sql, raw.position + offset);
  return {
    message: raw.message,
    ...(position === undefined ? {} : { position, ...lineAndColumn(sql, position) }),
    ...(raw.hint ? { hint: raw.hint } : {}),
  };
}

/**
 * The error to answer for a failed statement: the same code, its hint and "(at line L, column C)" in the
 * message (where the engine's message lacks them), and the spot as fields.
 */
export function locatedSqlError(error: AppError, problem: SqlProblem): AppError {
  const { message: _message, ...spot } = problem;
  let message = error.message;
  if (spot.hint && !message.includes(spot.hint)) message += ` (${spot.hint})`;
  if (spot.line !== undefined) message += ` (at line ${spot.line}, column ${spot.column})`;
  return new AppError(error.code, message, { ...(error.headers ? { headers: error.headers } : {}), sql: spot });
}
