import type { QueryJob, QueryLakehouseOutput, ViewQueryJobOutput } from '../generated/tool-types.js';
import type { JobRow } from './jobs.js';

// A job row as the tools answer it, and a page of its stored rows. Pure functions of the row: any process
// answers them the same.

/** One answer page at most 1 MiB of rows, as query_lakehouse's. */
export const PAGE_MAX_BYTES = 1024 * 1024;

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

export type JobPage = NonNullable<ViewQueryJobOutput['result']>;

/**
 * Rows `offset` … `offset + limit` of a succeeded job's result (offsets count from the job's own first row),
 * cut at PAGE_MAX_BYTES; `truncated` when more follow or a cap cut the job's result itself.
 */
export function jobPage(row: JobRow, offset: number, limit: number): JobPage | undefined {
  if (row.state !== 'succeeded' || !row.result) return undefined;
  const { columns, rows, truncated } = row.result;
  const page: unknown[][] = [];
  let bytes = 0;
  for (let i = offset; i < Math.min(rows.length, offset + limit); i++) {
    const size = JSON.stringify(rows[i]).length + 1;
    if (page.length > 0 && bytes + size > PAGE_MAX_BYTES) break;
    bytes += size;
    page.push(rows[i] as unknown[]);
  }
  const end = offset + page.length;
  const more = end < rows.length;
  return {
    columns,
    rows: page,
    row_count: page.length,
    truncated: more || (truncated && end >= rows.length),
    ...(more ? { next_offset: end } : {}),
  };
}

/** A succeeded job's stored answer as query_lakehouse's output (a task's result is the tool's normal result). */
export function queryOutput(row: JobRow): QueryLakehouseOutput {
  const { columns, rows, truncated } = row.result ?? { columns: [], rows: [], truncated: false };
  const elapsed = row.started_at && row.finished_at ? row.finished_at.getTime() - row.started_at.getTime() : 0;
  return {
    columns,
    rows,
    row_count: rows.length,
    truncated,
    ...(truncated ? { next_offset: row.row_offset + rows.length } : {}),
    elapsed_ms: Math.max(0, elapsed),
  };
}
