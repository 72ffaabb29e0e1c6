import { sql, type Kysely, type Selectable } from 'kysely';
import { AppError, notFound } from '../errors.js';
import type { Database } from '../db/schema.js';
import type { Principal } from '../oauth/principal.js';

// Long queries as jobs (docs/jobs.md): a job is a row of query_jobs plus a job of graphile-worker's queue
// (the queue of scheduled tasks, src/tasks/scheduler.ts, whose runner runs it: run-job.ts). Everything a
// status or a result needs is in the row, so any process answers for a job any other process runs. Jobs
// belong to an environment: another environment's id is `not_found`, as an unknown one is.

export type JobRow = Selectable<Database['query_jobs']>;
export type JobState = JobRow['state'];

export const RUN_QUERY_JOB = 'run_query_job';
/** A job whose process died mid-run is run once more (worker-liveness.ts frees it), then recorded as failed. */
export const JOB_MAX_ATTEMPTS = 2;

/** The error of a job whose process stopped while it ran its last attempt. */
export const JOB_STOPPED = 'The process running this job stopped; start it again.';

export const isActive = (state: JobState): boolean => state === 'queued' || state === 'running';

/** What graphile-worker's job carries: the row's key. */
export interface QueryJobPayload {
  environment_id: string;
  job_id: string;
}

export interface JobLimits {
  concurrencyPerEnv: number;
  maxQueuedPerEnv: number;
}

export interface NewJob {
  sql: string;
  connection: string;
  timeoutMs: number;
  rowOffset: number;
  rowLimit: number;
  maxBytes: number;
  asTask: boolean;
}

/** The queue key of a job (one queue entry per job, whichever process adds it). */
export const queueKey = (jobId: string) => `query_job:${jobId}`;

/**
 * Records a job and queues it, in one transaction: committed, it is visible to every process (a task is
 * durably created before its CreateTaskResult goes out). Refused with `busy` when the environment already has
 * its running and waiting jobs at the bound.
 */
export async function createJob(db: Kysely<Database>, principal: Principal, job: NewJob, limits: JobLimits): Promise<JobRow> {
  const environmentId = principal.environmentId;
  const bound = limits.concurrencyPerEnv + limits.maxQueuedPerEnv;
  return db.transaction().execute(async (trx) => {
    // Raw SQL: a transaction-scoped advisory lock per environment, so two starts cannot both take the last place.
    await sql`SELECT pg_advisory_xact_lock(hashtext(${`query_jobs:${environmentId}`}))`.execute(trx);
    const { active } = await trx
      .selectFrom('query_jobs')
      .select((eb) => eb.fn.countAll<string>().as('active'))
      .where('environment_id', '=', environmentId)
      .where('state', 'in', ['queued', 'running'])
      .executeTakeFirstOrThrow();
    if (Number(active) >= bound) {
      throw new AppError(
        'busy',
        `This environment has ${bound} query jobs running or waiting (JOB_CONCURRENCY_PER_ENV + JOB_MAX_QUEUED_PER_ENV); ` +
          'wait for one to finish or cancel one, then retry.',
        { headers: { 'Retry-After': '5' } },
      );
    }
    const row = await trx
      .insertInto('query_jobs')
      .values({
        environment_id: environmentId,
        subject: principal.subject,
        client_id: principal.clientId,
        sql: job.sql,
        connection: job.connection,
        timeout_ms: job.timeoutMs,
        row_offset: job.rowOffset,
        row_limit: job.rowLimit,
        max_bytes: job.maxBytes,
        as_task: job.asTask,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    const payload: QueryJobPayload = { environment_id: environmentId, job_id: row.id };
    // Raw SQL: graphile-worker's add_job function, in this transaction; its jobs view picks the least loaded
    // of the environment's lanes (named queues run one job at a time: lanes bound the jobs running at once).
    const lane = await sql<{ lane: number }>`
      SELECT l AS lane FROM generate_series(0, ${limits.concurrencyPerEnv - 1}::int) AS l
      ORDER BY (SELECT count(*) FROM graphile_worker.jobs j WHERE j.queue_name = ${`jobs:${environmentId}:`} || l), l
      LIMIT 1`.execute(trx);
    await sql`SELECT graphile_worker.add_job(
        identifier => ${RUN_QUERY_JOB},
        payload => ${JSON.stringify(payload)}::json,
        queue_name => ${`jobs:${environmentId}:${lane.rows[0]?.lane ?? 0}`},
        max_attempts => ${JOB_MAX_ATTEMPTS}::int,
        job_key => ${queueKey(row.id)})`.execute(trx);
    return row;
  });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const noSuchJob = (id: string) =>
  notFound(`No query job ${JSON.stringify(id.slice(0, 100))} in this environment (it may have expired); start_query_job starts one.`);

/** The job of this environment, or `not_found` (unknown, another environment's, expired). */
export async function findJob(db: Kysely<Database>, environmentId: string, id: string): Promise<JobRow> {
  if (!UUID.test(id)) throw noSuchJob(id);
  const row = await db
    .selectFrom('query_jobs')
    .selectAll()
    .where('environment_id', '=', environmentId)
    .where('id', '=', id)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', sql<Date>`now()`)]))
    .executeTakeFirst();
  if (!row) throw noSuchJob(id);
  return row;
}

/**
 * Asks a job to stop: a waiting one is cancelled at once; a running one gets the flag its process watches
 * (it interrupts the statement within a second or so and records `cancelled`). A finished job stays as it is.
 */
export async function cancelJob(db: Kysely<Database>, environmentId: string, id: string, ttlMs: number): Promise<JobRow> {
  await findJob(db, environmentId, id);
  await db
    .updateTable('query_jobs')
    .set({ cancel_requested_at: sql<Date>`coalesce(cancel_requested_at, now())` })
    .where('environment_id', '=', environmentId)
    .where('id', '=', id)
    .where('state', 'in', ['queued', 'running'])
    .execute();
  await finishJob(db, id, { state: 'cancelled', error_code: 'cancelled', error: 'Cancelled by the client.' }, ttlMs, ['queued']);
  return findJob(db, environmentId, id);
}

export interface Ending {
  state: Exclude<JobState, 'queued' | 'running'>;
  error_code?: string | null;
  error?: string | null;
  result_id?: string;
  rows_so_far?: number;
  /** When the job is deleted; default `ttlMs` from now (a succeeded job: when its result file expires). */
  expires_at?: Date;
}

/** Ends a job that is still in one of `from`; answers whether it did (a job ends once). */
export async function finishJob(
  db: Kysely<Database>,
  id: string,
  ending: Ending,
  ttlMs: number,
  from: JobState[] = ['queued', 'running'],
): Promise<boolean> {
  const updated = await db
    .updateTable('query_jobs')
    .set({
      ...ending,
      ...(ending.error ? { error: ending.error.slice(0, 4000) } : {}),
      finished_at: sql<Date>`now()`,
      expires_at: ending.expires_at ?? sql<Date>`now() + make_interval(secs => ${ttlMs / 1000}::float8)`,
    })
    .where('id', '=', id)
    .where('state', 'in', from)
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) > 0;
}

/**
 * Housekeeping at each planning tick of any process: deletes expired jobs, and fails a job still `running`
 * well past its deadline whose process died on its last attempt (nothing else would end it).
 */
export async function sweepJobs(db: Kysely<Database>, ttlMs: number): Promise<void> {
  await db
    .deleteFrom('query_jobs')
    .where('expires_at', '<=', sql<Date>`now()`)
    .execute();
  await db
    .updateTable('query_jobs')
    .set({
      state: 'failed',
      error_code: 'internal_error',
      error: JOB_STOPPED,
      finished_at: sql<Date>`now()`,
      expires_at: sql<Date>`now() + make_interval(secs => ${ttlMs / 1000}::float8)`,
    })
    .where('state', '=', 'running')
    .where('attempts', '>=', JOB_MAX_ATTEMPTS)
    .where(sql<boolean>`started_at < now() - make_interval(secs => timeout_ms / 1000.0 + 120)`)
    .execute();
}
