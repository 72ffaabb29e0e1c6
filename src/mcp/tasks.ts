import type { JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import { AppError, isErrorCode } from '../errors.js';
import { jobPage, resultFileOf } from '../jobs/job-view.js';
import type { Lakehouse } from '../lakehouse/lakehouse.js';
import { cancelJob, findJob, isActive, type JobRow } from '../jobs/jobs.js';
import type { Services } from '../operations/context.js';
import type { Principal } from '../oauth/principal.js';
import { toolCallLimitMessage } from '../http/rate-limit.js';
import { httpError } from './http-reply.js';
import { transportErrorCode } from './modern.js';
import { ErrorCode, jsonRpcError, serialize } from './protocol.js';
import { resultText } from './result-text.js';
import { toolErrorResult } from './tool-error-result.js';

// The MCP tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663) on the 2026-07-28 path. Task creation is
// server-directed: a query_lakehouse call whose request declares the extension in its client capabilities runs
// as a query job (src/jobs/) and is answered with a CreateTaskResult; the task is the job row, so tasks/get,
// tasks/update and tasks/cancel answer from any process. A task's result is the tool's normal result.

export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';

/** The tools whose calls become tasks when the client takes them. */
export const TASK_TOOLS: ReadonlySet<string> = new Set(['query_lakehouse']);

export const TASK_METHODS = ['tasks/get', 'tasks/update', 'tasks/cancel'] as const;

/** How often a client should poll tasks/get (the job's state changes at most this often that matters). */
export const TASK_POLL_INTERVAL_MS = 1_000;

const STATUS_MESSAGE: Record<JobRow['state'], string> = {
  queued: 'Waiting for a free place among the environment’s running jobs.',
  running: 'The statement is running.',
  succeeded: 'The statement finished.',
  failed: 'The statement failed.',
  timed_out: 'The statement ran past JOB_TIMEOUT_MS and was stopped.',
  cancelled: 'Cancelled by the client.',
};

/** A job's task without its outcome: status `working`, times, TTL and the polling hint. */
function taskFields(row: JobRow, resultTtlMs: number): Record<string, unknown> {
  const lastUpdated = row.finished_at ?? row.started_at ?? row.created_at;
  // Time to live counts from creation: until expiry once finished; the longest it could take otherwise.
  const ttlMs = row.expires_at
    ? row.expires_at.getTime() - row.created_at.getTime()
    : row.timeout_ms + resultTtlMs + (Date.now() - row.created_at.getTime());
  return {
    taskId: row.id,
    status: 'working',
    statusMessage: STATUS_MESSAGE[row.state],
    createdAt: row.created_at.toISOString(),
    lastUpdatedAt: lastUpdated.toISOString(),
    ttlMs: Math.max(0, Math.round(ttlMs)),
    pollIntervalMs: TASK_POLL_INTERVAL_MS,
  };
}

/**
 * The task of a job as tasks/get answers it: a finished one with its outcome, a completed one with the
 * result the call would have answered (its page of the job's result file: the call's `offset` and `limit`).
 */
export async function taskOf(lakehouse: Lakehouse, row: JobRow, requestId: string, resultTtlMs: number): Promise<Record<string, unknown>> {
  const task = taskFields(row, resultTtlMs);
  if (isActive(row.state)) return task;
  if (row.state === 'cancelled') return { ...task, status: 'cancelled' };
  const file = await resultFileOf(lakehouse, row);
  if (file) {
    let output;
    try {
      output = await jobPage(lakehouse, row, file, { offset: row.row_offset, limit: row.row_limit, maxBytes: row.max_bytes });
    } catch (error) {
      // The page cannot be answered (one row over the call's byte cap): the call's own error answer, as the call
      // would have had it. Anything else (a busy engine, a timeout, the server's failure) is passed on: the next
      // poll tries again.
      if (!isAnswerOfTheCall(error)) throw error;
      return { ...task, status: 'completed', result: toolErrorResult(error, requestId) };
    }
    return {
      ...task,
      status: 'completed',
      result: { content: [{ type: 'text', text: JSON.stringify(resultText(output)) }], structuredContent: output },
    };
  }
  // A statement's own failure (SQL error, timeout) is what the call would have answered: a completed task with
  // an isError result. Only a failure of the server (the job's process died) is a failed task.
  // A code this version does not know (written by another) is taken as the server's failure.
  const code = row.error_code && isErrorCode(row.error_code) ? row.error_code : 'internal_error';
  if (code === 'internal_error') {
    return { ...task, status: 'failed', error: { code: ErrorCode.InternalError, message: row.error ?? 'Internal error' } };
  }
  const error = new AppError(code, row.error ?? code);
  return { ...task, status: 'completed', result: toolErrorResult(error, requestId) };
}

/** An answer the page itself cannot be (the same on every poll), which the call would have answered as its error. */
const isAnswerOfTheCall = (error: unknown): error is AppError =>
  error instanceof AppError && (error.code === 'row_too_large' || error.code === 'answer_too_large');

/** The CreateTaskResult of a job just created (committed: tasks/get finds it from any process). */
export const createTaskResult = (row: JobRow, resultTtlMs: number): Record<string, unknown> => ({
  resultType: 'task',
  ...taskFields(row, resultTtlMs),
});

/**
 * tasks/get, tasks/update and tasks/cancel, for the caller's environment (another environment's task is
 * unknown, as is an expired one). `answer` wraps the fields as a modern result.
 */
export async function serveTaskMethod(
  services: Services,
  request: JSONRPCRequest,
  principal: Principal,
  requestId: string,
  answer: (fields: Record<string, unknown>) => string,
): Promise<string> {
  const { id, method } = request;
  const taskId = (request.params as { taskId?: unknown } | undefined)?.taskId;
  if (typeof taskId !== 'string' || taskId === '') {
    return serialize(jsonRpcError(id, ErrorCode.InvalidParams, 'Invalid params: params.taskId (a string) is required.'));
  }
  // Jobs run an environment's SQL: reading their state takes the read scope, as the job tools do.
  if (!principal.scopes.has('read')) {
    throw httpError(403, transportErrorCode(true, 403), `Forbidden: ${method} needs the read scope.`, id);
  }
  // A poll is a call of the job's view (view_query_job): it counts against TOOL_CALL_LIMIT as that tool would.
  const admission = services.limiters.toolCalls.take(principal.environmentId);
  if (!admission.ok) {
    return serialize(
      jsonRpcError(id, ErrorCode.InternalError, toolCallLimitMessage(admission), {
        code: 'rate_limited',
        request_id: requestId,
        retry_after: admission.retryAfter,
      }),
    );
  }
  const { db, config } = services;
  try {
    if (method === 'tasks/cancel') {
      await cancelJob(db, principal.environmentId, taskId, config.resultTtlMs);
      return answer({});
    }
    const row = await findJob(db, principal.environmentId, taskId);
    // tasks/update: this server never asks for input, so there is never an outstanding request to answer.
    if (method === 'tasks/update') return answer({});
    return answer(await taskOf(services.lakehouse, row, requestId, config.resultTtlMs));
  } catch (error) {
    if (error instanceof AppError && error.code === 'not_found') {
      return serialize(jsonRpcError(id, ErrorCode.InvalidParams, `Invalid params: ${error.message}`));
    }
    throw error;
  }
}
