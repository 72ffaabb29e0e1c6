import type { ToolHandler } from '../generated/handlers.js';
import { jobPage, jobView, resultFileOf } from '../jobs/job-view.js';
import { cancelJob, createJob, findJob } from '../jobs/jobs.js';
import { describeExport } from './exports.js';

// The plain job tools (docs/jobs.md), for clients without the MCP tasks extension: start, view (status, pages
// of the result and its file), cancel. A job's full result is a Parquet file of the result store.

/** What a job's row keeps of a page (the file holds the result; these matter only for tasks' pages). */
const WHOLE_RESULT = { rowOffset: 0, rowLimit: 10_000, maxBytes: 1024 * 1024 };

export const startQueryJob: ToolHandler<'start_query_job'> = async (input, ctx) => {
  ctx.audited.sql = input.sql;
  const { config } = ctx;
  const row = await createJob(
    ctx.db,
    ctx.principal,
    {
      sql: input.sql,
      connection: input.connection,
      timeoutMs: Math.min(input.timeout_ms ?? config.jobTimeoutMs, config.jobTimeoutMs),
      ...WHOLE_RESULT,
      asTask: false,
    },
    { concurrencyPerEnv: config.jobConcurrencyPerEnv, maxQueuedPerEnv: config.jobMaxQueuedPerEnv },
  );
  return jobView(row);
};

export const viewQueryJob: ToolHandler<'view_query_job'> = async (input, ctx) => {
  const row = await findJob(ctx.db, ctx.principal.environmentId, input.id);
  const file = await resultFileOf(ctx.lakehouse, row);
  if (!file) return { job: jobView(row) };
  const { columns, rows, row_count, truncated, next_offset } = await jobPage(ctx.lakehouse, row, file, input, ctx.signal);
  return {
    job: jobView(row),
    result: { columns, rows, row_count, truncated, ...(next_offset === undefined ? {} : { next_offset }) },
    export: describeExport(file, ctx.config.publicUrl),
  };
};

export const cancelQueryJob: ToolHandler<'cancel_query_job'> = async (input, ctx) =>
  jobView(await cancelJob(ctx.db, ctx.principal.environmentId, input.id, ctx.config.resultTtlMs));
