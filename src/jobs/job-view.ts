import { notFound } from '../errors.js';
import type { QueryJob, QueryLakehouseOutput } from '../generated/tool-types.js';
import type { Lakehouse } from '../lakehouse/lakehouse.js';
import type { ResultFile } from '../lakehouse/results/store.js';
import type { JobRow } from './jobs.js';

// A job row as the tools answer it, and pages of a succeeded job's result file. Everything comes from
// PostgreSQL and the shared DATA_DIR: any process answers them the same.

/** One answer page at most 1 MiB of rows, as query_lakehouse's. */
export const PAGE_MAX_BYTES = 1024 * 1024;
/** How long reading one page of a result file may take. */
const PAGE_TIMEOUT_MS = 15_000;

export function jobView(row: JobRow, now = new Date()): QueryJob {
  const started = row.started_at ?? undefined;
  const elapsed = started ? (row.finished_at ?? now).getTime() - started.getTime() : 0;
  return {
    id: row.id,
    state: row.state,
    connection: row.connection,
    rows_so_far: Number(row.rows_so_far),
    elapsed_ms: Math.max(0, elapsed),
    created_at: row.created_at.toISOString(),
    ...(row.started_at ? { started_at: row.started_at.toISOString() } : {}),
    ...(row.finished_at ? { finished_at: row.finished_at.toISOString() } : {}),
    ...(row.expires_at ? { expires_at: row.expires_at.toISOString() } : {}),
    ...(row.error_code ? { error: { code: row.error_code, message: row.error ?? '' } } : {}),
  };
}

/** The result file of a succeeded job; `not_found` once it expired (the job row goes with it). */
export async function resultFileOf(lakehouse: Lakehouse, row: JobRow): Promise<ResultFile | undefined> {
  if (row.state !== 'succeeded' || !row.result_id) return undefined;
  const file = await lakehouse.results.find(row.environment_id, row.result_id);
  if (!file) throw notFound(`The result of query job ${row.id} has expired (results are kept RESULT_TTL_HOURS); start it again.`);
  return file;
}

/** Rows `offset` … of a job's result file, as query_lakehouse answers a page (1 MiB at most). */
export async function jobPage(
  lakehouse: Lakehouse,
  row: JobRow,
  file: ResultFile,
  page: { offset: number; limit: number; maxBytes?: number },
  signal?: AbortSignal,
): Promise<QueryLakehouseOutput> {
  const answer = await lakehouse.readResult(row.environment_id, file, {
    offset: page.offset,
    limit: page.limit,
    maxBytes: page.maxBytes ?? PAGE_MAX_BYTES,
    timeoutMs: PAGE_TIMEOUT_MS,
    signal,
  });
  const elapsed = row.started_at && row.finished_at ? row.finished_at.getTime() - row.started_at.getTime() : 0;
  return { ...answer, elapsed_ms: Math.max(0, elapsed) };
}
