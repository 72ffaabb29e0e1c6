import type { ToolHandler } from '../generated/handlers.js';
import { jobPage, jobView } from '../jobs/job-view.js';
import { cancelJob, createJob, findJob } from '../jobs/jobs.js';

// The plain job tools (docs/jobs.md), for clients without the MCP tasks extension: start, view (status and
// pages of the result), cancel. A job keeps up to JOB_RESULT_ROWS rows of its answer (JOB_RESULT_BYTES of JSON).

export const JOB_RESULT_ROWS = 1_000_000;
export const JOB_RESULT_BYTES = 32 * 1024 * 1024;

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
      rowOffset: 0,
      rowLimit: JOB_RESULT_ROWS,
      maxBytes: JOB_RESULT_BYTES,
      asTask: false,
    },
    { concurrencyPerEnv: config.jobConcurrencyPerEnv, maxQueuedPerEnv: config.jobMaxQueuedPerEnv },
  );
  return jobView(row);
};

export const viewQueryJob: ToolHandler<'view_query_job'> = async (input, ctx) => {
  const row = await findJob(ctx.db, ctx.principal.environmentId, input.id);
  const result = jobPage(row, input.offset, input.limit);
  return { job: jobView(row), ...(result ? { result } : {}) };
};

export const cancelQueryJob: ToolHandler<'cancel_query_job'> = async (input, ctx) =>
  jobView(await cancelJob(ctx.db, ctx.principal.environmentId, input.id, ctx.config.jobResultTtlHours));
