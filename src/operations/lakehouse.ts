import { exportQuery } from './exports.js';
import type { ToolHandler } from '../generated/handlers.js';
import { AppError } from '../errors.js';
import { createJob } from '../jobs/jobs.js';

/** 1 MiB of rows per answer at most (specs/tools/query_lakehouse.yaml). */
const MAX_BYTES = 1024 * 1024;

export const queryLakehouse: ToolHandler<'query_lakehouse'> = async (input, ctx) => {
  ctx.audited.sql = input.sql;
  const { sql, connection, limit, offset, timeout_ms } = input;
  if (ctx.task) {
    if (input.export) {
      // The job's result is a file of its own (Parquet on the built-in engine); a second format is not made.
      const message = 'export is not taken when the call runs as a task: its job keeps the whole result as a file already';
      throw new AppError('validation_failed', `query_lakehouse: ${message}. Call without the tasks extension to export.`, {
        violations: [{ location: 'export', message }],
      });
    }
    // The client takes a task: the statement runs as a query job (up to JOB_TIMEOUT_MS, not timeout_ms: the
    // point is to outlive a call), whose stored answer is this page; the transport answers with the task.
    const { config } = ctx;
    ctx.task.job = await createJob(
      ctx.db,
      ctx.principal,
      { sql, connection, timeoutMs: config.jobTimeoutMs, rowOffset: offset, rowLimit: limit, maxBytes: MAX_BYTES, asTask: true },
      { concurrencyPerEnv: config.jobConcurrencyPerEnv, maxQueuedPerEnv: config.jobMaxQueuedPerEnv },
    );
    return { columns: [], rows: [], row_count: 0, truncated: false, elapsed_ms: 0 };
  }
  const answer = await ctx.lakehouse.query(ctx.principal.environmentId, connection, sql, {
    limit,
    offset,
    timeoutMs: timeout_ms,
    maxBytes: MAX_BYTES,
    signal: ctx.signal,
  });
  // The first rows answer at once (and a bad statement fails fast); then the whole result goes to a file.
  if (!input.export) return answer;
  return { ...answer, export: await exportQuery(ctx, connection, sql, input.export, timeout_ms) };
};

export const validateSql: ToolHandler<'validate_sql'> = async (input, ctx) => {
  ctx.audited.sql = input.sql;
  return ctx.lakehouse.validate(ctx.principal.environmentId, input.connection, input.sql, { timeoutMs: 5_000, signal: ctx.signal });
};

export const explainSql: ToolHandler<'explain_sql'> = async (input, ctx) => {
  ctx.audited.sql = input.sql;
  const { sql, connection, analyze, timeout_ms } = input;
  return ctx.lakehouse.explain(ctx.principal.environmentId, connection, sql, { analyze, timeoutMs: timeout_ms, signal: ctx.signal });
};
