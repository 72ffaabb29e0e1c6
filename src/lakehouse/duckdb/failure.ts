import { AppError } from '../../errors.js';
import type { DuckFailure } from './worker-protocol.js';

// DuckDB's errors as the answers of a tool call: a code of src/errors.ts, the message without DuckDB's
// drawing of the spot, the 1-based position in the statement, and DuckDB's own suggestion as a hint.

/**
 * Where DuckDB points in `sql`: its messages end with `LINE n: <the line, or a window of it>` and a caret
 * under the spot. Answers the 1-based position in `sql`, and the message without that drawing.
 */
export function locate(message: string, sql: string): { message: string; position?: number } {
  const match = /\n*LINE (\d+): (.*)\n( *)\^\s*$/.exec(message);
  if (!match) return { message };
  const text = message.slice(0, match.index).trimEnd();
  const lineNumber = Number(match[1]);
  const caret = (match[3] ?? '').length - `LINE ${lineNumber}: `.length;
  const lines = sql.split('\n');
  const line = lines[lineNumber - 1];
  if (line === undefined || caret < 0) return { message: text };
  let shown = match[2] ?? '';
  let column = caret;
  // A long line is shown as a window: "...<part of the line>"; find the part in the line.
  if (shown.startsWith('...')) {
    shown = shown.slice(3);
    column -= 3;
  }
  if (shown.endsWith('...')) shown = shown.slice(0, -3);
  const start = line.indexOf(shown);
  if (start < 0) return { message: text };
  const before = lines.slice(0, lineNumber - 1).reduce((n, l) => n + l.length + 1, 0);
  return { message: text, position: before + start + column + 1 };
}

/** DuckDB's error as a code of src/errors.ts, a message for the caller, and where in `sql` it points. */
export function toFailure(error: unknown, timedOut: boolean, timeoutMs: number, sql: string): DuckFailure {
  const raw = (error instanceof Error ? error.message : String(error)).slice(0, 4_000);
  if (!(error instanceof AppError) && (timedOut || /INTERRUPT/i.test(raw))) {
    return {
      code: 'query_timeout',
      message: `The statement ran past its ${timeoutMs} ms timeout and was cancelled. Narrow it (a time range, LIMIT) or raise timeout_ms.`,
    };
  }
  const { message, position } = locate(raw, sql);
  // DuckDB's own suggestions: "Did you mean …?", "Candidate bindings: …".
  const hint = /^(Did you mean .*|Candidate bindings: .*)$/m.exec(message)?.[1];
  const code =
    error instanceof AppError
      ? error.code
      : /Out of Memory Error/i.test(raw)
        ? 'out_of_memory'
        : /Permission Error|file system operations are disabled/i.test(raw)
          ? 'permission_denied'
          : 'sql_error';
  return { code, message: message.slice(0, 2_000), ...(position ? { position } : {}), ...(hint ? { hint } : {}) };
}
