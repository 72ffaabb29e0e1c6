import { AppError } from '../errors.js';
import { loadTable } from '../lakehouse/load.js';
import type { KoaOperationHandler } from './context.js';

/** The largest body one REST load takes (specs/openapi.yaml says so); `admin lakehouse import` takes more. */
export const REST_LOAD_MAX_BYTES = 256 * 1024 * 1024;

/**
 * POST /api/v1/lakehouse/tables/{table}/rows: appends the streamed CSV or NDJSON body to a table of the
 * token's environment (src/lakehouse/load.ts). A raw Koa handler, so that the body streams into COPY rather
 * than being read into memory; the router has checked the bearer token and its write scope.
 */
export const loadLakehouseTable: KoaOperationHandler = async (ctx, { principal, lakehouse }) => {
  if (!principal) throw new AppError('internal_error', 'the load route runs without a principal');
  const format = ctx.request.is('text/csv') ? 'csv' : ctx.request.is('application/x-ndjson', 'application/jsonl') ? 'ndjson' : undefined;
  if (!format) {
    throw new AppError(
      'unsupported_media_type',
      'Send the rows as text/csv (a header row, then records) or application/x-ndjson (one JSON object per line).',
    );
  }
  const length = ctx.request.length;
  if (length !== undefined && length > REST_LOAD_MAX_BYTES) {
    throw new AppError(
      'payload_too_large',
      `The body is larger than the limit of ${REST_LOAD_MAX_BYTES} bytes; split it into several loads.`,
    );
  }
  const controller = new AbortController();
  ctx.res.once('close', () => {
    if (!ctx.res.writableFinished) controller.abort();
  });
  const table = (ctx.params as Record<string, string | undefined>).table ?? '';
  const result = await loadTable(lakehouse, principal.environmentId, table, ctx.req, {
    format,
    maxBytes: REST_LOAD_MAX_BYTES,
    signal: controller.signal,
  });
  ctx.status = 200;
  ctx.type = 'application/json';
  ctx.body = result;
};
