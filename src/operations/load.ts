import os from 'node:os';
import { AppError } from '../errors.js';
import { importTable, type ImportFormat } from '../lakehouse/duckdb/import.js';
import type { KoaOperationHandler } from './context.js';

/** The largest body one REST load takes (specs/openapi.yaml says so); `admin lakehouse import` takes more. */
export const REST_LOAD_MAX_BYTES = 256 * 1024 * 1024;

/** The body's format by its content type. */
function formatOf(is: (...types: string[]) => string | false | null): ImportFormat | undefined {
  if (is('text/csv')) return 'csv';
  if (is('application/x-ndjson', 'application/jsonl')) return 'ndjson';
  if (is('application/vnd.apache.parquet', 'application/x-parquet')) return 'parquet';
  return undefined;
}

/**
 * POST /api/v1/lakehouse/tables/{table}/rows: appends the streamed CSV, NDJSON or Parquet body to a table of
 * the token's environment (src/lakehouse/duckdb/import.ts). A raw Koa handler, so that the body streams to a
 * spool file rather than into memory; the router has checked the bearer token and its write scope.
 */
export const loadLakehouseTable: KoaOperationHandler = async (ctx, { principal, lakehouse }) => {
  if (!principal) throw new AppError('internal_error', 'the load route runs without a principal');
  const format = formatOf((...types) => ctx.request.is(...types));
  if (!format) {
    throw new AppError(
      'unsupported_media_type',
      'Send the rows as text/csv (a header row, then records), application/x-ndjson (one JSON object per line) or application/vnd.apache.parquet.',
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
  const result = await importTable(lakehouse.store, principal.environmentId, table, ctx.req, {
    format,
    maxBytes: REST_LOAD_MAX_BYTES,
    signal: controller.signal,
    tempDir: os.tmpdir(),
  });
  ctx.status = 200;
  ctx.type = 'application/json';
  ctx.body = result;
};
