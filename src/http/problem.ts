import { STATUS_CODES } from 'node:http';
import type { Context } from 'koa';
import { DatabaseUnavailableError, isDatabaseUnavailable } from '../db/unavailable.js';
import { AppError, type ErrorCode } from '../errors.js';

/** The code of a client error Koa or raw-body threw, by its status (the rest are `bad_request`). */
const CLIENT_ERROR_CODES: Partial<Record<number, ErrorCode>> = {
  404: 'not_found',
  405: 'method_not_allowed',
  408: 'request_timeout',
  415: 'unsupported_media_type',
  429: 'rate_limited',
};

/** Maps anything thrown to an AppError; unknown errors become a bare 500. */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  // The database down or unreachable: 503 database_unavailable with Retry-After, not a 500.
  if (isDatabaseUnavailable(error)) return new DatabaseUnavailableError();
  // Errors from koa and raw-body carry a status and an `expose` flag.
  const e = (error ?? {}) as { status?: unknown; expose?: unknown; message?: unknown; type?: unknown };
  const status = typeof e.status === 'number' && e.status >= 400 && e.status < 600 ? e.status : 500;
  if (status === 413) return new AppError('payload_too_large', 'The request body is larger than the limit.');
  if (status < 500 && e.expose === true && typeof e.message === 'string')
    return new AppError(CLIENT_ERROR_CODES[status] ?? 'bad_request', e.message);
  return new AppError('internal_error', 'Internal server error');
}

/** Writes an RFC 9457 problem document; the detail is exposed only below 500. */
export function sendProblem(ctx: Context, error: AppError, requestId: string): void {
  ctx.status = error.status;
  for (const [name, value] of Object.entries(error.headers ?? {})) ctx.set(name, value);
  ctx.type = 'application/problem+json';
  ctx.body = {
    type: 'about:blank',
    title: STATUS_CODES[error.status] ?? 'Error',
    status: error.status,
    code: error.code,
    detail: error.expose ? error.message : 'Internal server error. Quote the instance id when reporting it.',
    instance: requestId,
    ...(error.violations ? { errors: error.violations } : {}),
    ...(error.expose ? error.sql : {}),
  };
}
