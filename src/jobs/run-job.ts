import { setTimeout as sleep } from 'node:timers/promises';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { AppError } from '../errors.js';
import { toAppError } from '../http/problem.js';
import { isBuiltIn, type Lakehouse } from '../lakehouse/lakehouse.js';
import type { Logger } from '../logger.js';
import { finishJob, JOB_MAX_ATTEMPTS, JOB_STOPPED, type QueryJobPayload } from './jobs.js';

// Runs one query job in the process whose graphile-worker runner took it (src/tasks/scheduler.ts). The job is
// not tied to any HTTP request: the client may leave and come back, or ask another process. A cancel from any
// process sets the row's flag, which this process reads every CANCEL_POLL_MS and turns into an abort of the
// statement (the DuckDB worker interrupts it). Failures of the SQL end the job; only a stop of this process
// throws, so that the queue runs the job again (on another process, from the start: the SQL only reads).

const CANCEL_POLL_MS = 500;
/** How long a job waits between tries when its environment's engine is busy with other statements. */
const BUSY_RETRY_MS = 1_000;

export interface JobRunnerDeps {
  db: Kysely<Database>;
  lakehouse: Lakehouse;
  log: Logger;
  /** How long a job without a result file is kept (RESULT_TTL_HOURS, as results are). */
  resultTtlMs: number;
}

class CancelledByClient extends Error {}

export async function runQueryJob(deps: JobRunnerDeps, payload: QueryJobPayload, stopping: AbortSignal): Promise<void> {
  const { db, lakehouse, resultTtlMs } = deps;
  const claimed = await db
    .updateTable('query_jobs')
    .set({ state: 'running', started_at: sql<Date>`now()`, attempts: sql<number>`attempts + 1` })
    .where('environment_id', '=', payload.environment_id)
    .where('id', '=', payload.job_id)
    .where('state', 'in', ['queued', 'running'])
    .where('cancel_requested_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
  if (!claimed) {
    // Cancelled (or expired) before it ran: nothing to do but record a pending cancel.
    await finishJob(db, payload.job_id, { state: 'cancelled', error_code: 'cancelled', error: 'Cancelled by the client.' }, resultTtlMs);
    return;
  }
  if (claimed.attempts > JOB_MAX_ATTEMPTS) {
    await finishJob(db, claimed.id, { state: 'failed', error_code: 'internal_error', error: JOB_STOPPED }, resultTtlMs);
    return;
  }

  const aborts = new AbortController();
  const onStop = () => aborts.abort(stopping.reason);
  stopping.addEventListener('abort', onStop, { once: true });
  // Stopped while the row was being claimed: the listener above would never hear of it, and the job would run on.
  if (stopping.aborted) onStop();
  // Rows DuckDB has read so far, from the worker as the statement runs; written to the row with the cancel check.
  let rowsRead = 0;
  // One check at a time: on a slow database, ticks would otherwise pile up updates of the same row.
  let checking = false;
  const watcher = setInterval(() => {
    if (checking) return;
    checking = true;
    db.updateTable('query_jobs')
      .set({ rows_so_far: sql<number>`greatest(rows_so_far, ${rowsRead})` })
      .where('id', '=', claimed.id)
      .returning('cancel_requested_at')
      .executeTakeFirst()
      .then((row) => {
        if (!row || row.cancel_requested_at) aborts.abort(new CancelledByClient('cancelled'));
      })
      .catch(() => undefined)
      .finally(() => (checking = false));
  }, CANCEL_POLL_MS);
  const deadline = Date.now() + claimed.timeout_ms;
  try {
    // The full result goes to the result store (item 1): a Parquet file of the environment, under its quota,
    // expiring as exports do, readable by view_query_job's pages, resources/read and the download URL.
    const environmentId = claimed.environment_id;
    // External PostgreSQL connections export CSV only.
    const format = isBuiltIn(claimed.connection) ? 'parquet' : 'csv';
    const file = await untilNotBusy(deadline, aborts.signal, () =>
      lakehouse.results.write(environmentId, { kind: 'job', format }, (path, maxBytes) =>
        lakehouse.exportTo(
          environmentId,
          claimed.connection,
          claimed.sql,
          { file: path, format, maxBytes },
          { timeoutMs: Math.max(100, deadline - Date.now()), signal: aborts.signal, onProgress: (rows) => (rowsRead = rows) },
        ),
      ),
    );
    const ended = await finishJob(
      db,
      claimed.id,
      { state: 'succeeded', result_id: file.id, rows_so_far: file.rows, expires_at: file.expiresAt },
      resultTtlMs,
      ['running'],
    );
    // Cancelled or swept meanwhile: nobody will read the file.
    if (!ended) await lakehouse.results.remove(environmentId, file.id);
  } catch (thrown) {
    const reason: unknown = aborts.signal.reason;
    if (stopping.aborted && !(reason instanceof CancelledByClient)) {
      // This process is stopping: the job goes back to the queue, for another process (or this one, restarted),
      // unless this was the queue's last attempt at it: left queued, it would hold its environment's place forever.
      if (claimed.attempts >= JOB_MAX_ATTEMPTS) {
        await finishJob(db, claimed.id, { state: 'failed', error_code: 'internal_error', error: JOB_STOPPED }, resultTtlMs, ['running']);
        return;
      }
      await db.updateTable('query_jobs').set({ state: 'queued' }).where('id', '=', claimed.id).where('state', '=', 'running').execute();
      throw new Error('the server stopped while the job ran; it runs again');
    }
    if (reason instanceof CancelledByClient) {
      await finishJob(db, claimed.id, { state: 'cancelled', error_code: 'cancelled', error: 'Cancelled by the client.' }, resultTtlMs, [
        'running',
      ]);
      return;
    }
    const error = toAppError(thrown);
    if (error.status >= 500 && error.code === 'internal_error') deps.log.error({ err: thrown, job: claimed.id }, 'query job failed');
    await finishJob(
      db,
      claimed.id,
      {
        state: error.code === 'query_timeout' ? 'timed_out' : 'failed',
        error_code: error.code,
        error: error.expose ? error.message : 'Internal error: the job failed.',
      },
      resultTtlMs,
      ['running'],
    );
  } finally {
    clearInterval(watcher);
    stopping.removeEventListener('abort', onStop);
  }
}

/** Runs `work`, trying again while the environment's engine answers busy, until the deadline. */
async function untilNotBusy<T>(deadline: number, signal: AbortSignal, work: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await work();
    } catch (error) {
      const code = error instanceof AppError ? error.code : undefined;
      // The engine, or the result store's writers (EXPORT_CONCURRENCY_PER_ENV), are all taken: wait for a turn.
      if ((code !== 'busy' && code !== 'unavailable' && code !== 'too_many_exports') || signal.aborted) throw error;
      if (Date.now() + BUSY_RETRY_MS >= deadline) {
        throw new AppError('query_timeout', 'The job waited past its timeout for the environment\u2019s query engine; retry later.');
      }
      await sleep(BUSY_RETRY_MS, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) throw error;
    }
  }
}
