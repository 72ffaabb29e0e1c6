import { AppError } from '../errors.js';

// A database that is down, restarting or unreachable is not an internal error: the request fails fast with
// 503 and a message that says so (and Retry-After), and the pools reconnect on their own once it is back
// (pg drops broken clients and opens new ones on the next query).

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** SQLSTATE: class 08 (connection exception), admin/crash shutdown, cannot connect now, too many connections. */
const SQLSTATES = /^(08...|57P01|57P02|57P03|53300)$/;
const MESSAGES =
  /\b(connect|read|write) (ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|EPIPE)\b|Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|the database system is (starting up|shutting down|in recovery mode)/i;

/** Is `error` (or one of its causes) the database being unreachable rather than a bug or bad input? */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, message, errors } = e as { code?: unknown; message?: unknown; errors?: unknown };
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || SQLSTATES.test(code))) return true;
    if (typeof message === 'string' && MESSAGES.test(message)) return true;
    // AggregateError of a connect to several addresses (localhost → ::1 and 127.0.0.1).
    if (Array.isArray(errors) && errors.some((inner) => isDatabaseUnavailable(inner))) return true;
  }
  return false;
}

export const DATABASE_UNAVAILABLE_MESSAGE = 'The database is unavailable (down, restarting or unreachable); retry in a few seconds.';
export const DATABASE_RETRY_AFTER_SECONDS = 2;

/** The 503 of an unreachable database; its message is shown (it says nothing about internals). */
export class DatabaseUnavailableError extends AppError {
  override readonly expose = true;
  constructor() {
    super('database_unavailable', DATABASE_UNAVAILABLE_MESSAGE, { headers: { 'Retry-After': String(DATABASE_RETRY_AFTER_SECONDS) } });
  }
}
