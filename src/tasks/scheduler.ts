import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger as WorkerLogger, Runner, WorkerEvents } from 'graphile-worker';
import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import type { Database } from '../db/schema.js';
import type { Lakehouse } from '../lakehouse/lakehouse.js';
import type { Logger } from '../logger.js';
import { timeZoneOf } from '../operations/environment-time-zone.js';
import { RUN_QUERY_JOB, type QueryJobPayload } from '../jobs/jobs.js';
import { runSlot, type SlotJob } from './run-task.js';
import { nextSlot } from './schedule.js';
import type { TaskSettings } from './settings.js';
import { WorkerLiveness } from './worker-liveness.js';

// Every server process runs one scheduler; any number may share a database. Two parts:
//
// Planning (tick): a task's `next_run_at` is its next slot not yet queued. A tick takes the due tasks (by the
// injectable clock), and for each, in one transaction, advances next_run_at with a compare-and-set
// (`WHERE next_run_at = <the slot read>`) and adds the slot's job to graphile-worker's queue (its add_job SQL
// function, so the job commits with the advance or not at all). Of several processes planning the same slot,
// one advances it; the others update no row and add nothing. The job key is `task:<id>:<slot>`.
//
// Running: graphile-worker's runner takes jobs (SKIP LOCKED), retries a job that threw with backoff under the
// same key, and runs the jobs of one named queue one at a time. A slot's job goes to one of the environment's
// TASK_CONCURRENCY_PER_ENV queues (`tasks:<environment>:<lane>`, the least loaded), so at most that many runs
// of one environment run at once across all processes, and the rest wait in their queue. runSlot (run-task.ts)
// commits at most one result per slot: task_runs' unique (task_id, slot).
//
// Slots missed while no process ran are not replayed: the first tick after runs the overdue slot once and
// plans the next one after now.

export const RUN_TASK = 'run_task';
/** Due tasks planned per tick; the rest wait for the next tick. */
const PLAN_BATCH = 100;
const PRUNE_EVERY_MS = 3_600_000;
/** A queue that failed to start in the background tries again after this long. */
const RETRY_START_MS = 5_000;

export interface TaskSchedulerOptions {
  db: Kysely<Database>;
  /** graphile-worker's own pool (its LISTEN connection included). */
  pool: pg.Pool;
  /** A promise while the server still starts it: the queue starts beside it, and a run waits for it. */
  lakehouse: Lakehouse | Promise<Lakehouse>;
  log: Logger;
  publicUrl: string;
  settings: TaskSettings;
  nudgeWebhooks(): void;
  /** What time it is: real time in production; tests inject a clock they move. */
  clock?: () => Date;
  /** Runs a query job (src/jobs/run-job.ts) on this queue's runner; without it this process runs none. */
  runQueryJob?: (payload: QueryJobPayload, stopping: AbortSignal) => Promise<void>;
  /** Housekeeping of the query jobs at each planning tick (src/jobs/jobs.ts sweepJobs), in any process. */
  sweepJobs?: () => Promise<void>;
  /** Fault injection for tests (run-task.ts). */
  beforeCommit?: (job: SlotJob, attempt: number) => void | Promise<void>;
}

/** graphile-worker's log lines into our logger (its debug chatter stays out). */
function workerLogger(Logger: typeof WorkerLogger, log: Logger): WorkerLogger {
  return new Logger(() => (level, message, meta) => {
    // LogLevel is an ambient const enum: compared by its string values.
    const name: string = level;
    if (name === 'error') log.error({ meta }, `task queue: ${message}`);
    else if (name === 'warning') log.warn({ meta }, `task queue: ${message}`);
  });
}

export class TaskScheduler {
  private runner: Runner | undefined;
  /** The latest start() (settled, never rejecting): stop() waits for it. */
  private starting: Promise<unknown> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<number> | undefined;
  private stopped = false;
  private lastPrune = 0;
  private readonly aborts = new AbortController();
  private readonly clock: () => Date;

  /** Tells live workers from those of a killed process, whose jobs it frees (worker-liveness.ts). */
  private readonly liveness: WorkerLiveness;

  constructor(private readonly options: TaskSchedulerOptions) {
    this.clock = options.clock ?? (() => new Date());
    this.liveness = new WorkerLiveness(options.pool, options.log);
  }

  /** Migrates graphile-worker's schema (once per database), starts the runner (unless TASK_WORKERS=0) and the ticks. */
  start(): Promise<this> {
    const starting = this.startRunner();
    this.starting = starting.catch(() => undefined);
    return starting;
  }

  private async startRunner(): Promise<this> {
    const { settings, pool, log } = this.options;
    // Loaded here, not with the server's modules: nothing else needs it.
    const { Logger, run } = await import('graphile-worker');
    const events = new EventEmitter() as WorkerEvents;
    const runQueryJob = this.options.runQueryJob;
    events.on('worker:create', ({ worker }) => {
      this.liveness.claim(worker.workerId).catch((error: unknown) => log.warn({ err: error }, 'task queue: could not mark a worker alive'));
    });
    this.runner = await run({
      events,
      pgPool: pool,
      concurrency: Math.max(1, settings.workers),
      noHandleSignals: true,
      pollInterval: 1_000,
      logger: workerLogger(Logger, log),
      // TASK_WORKERS=0: this process plans slots but runs none (a task identifier no job has).
      taskList:
        settings.workers === 0
          ? { none: async () => undefined }
          : {
              [RUN_TASK]: (payload, helpers) => this.runJob(payload as SlotJob, helpers.job),
              ...(runQueryJob ? { [RUN_QUERY_JOB]: (payload) => runQueryJob(payload as QueryJobPayload, this.aborts.signal) } : {}),
            },
    });
    if (this.stopped) {
      // stop() came while it started: it waits for this, and finds no runner left to stop.
      const runner = this.runner;
      this.runner = undefined;
      await runner.stop();
    } else this.schedule(0);
    return this;
  }

  /**
   * start() while the caller goes on (a server serves meanwhile); a failure is logged and start() tried again
   * every RETRY_START_MS until it succeeds or stop() is called. Only once the queue's schema exists: queueing a
   * job (graphile_worker.add_job) needs it, and start() creates it.
   */
  startInBackground(): void {
    void (async () => {
      while (!this.stopped) {
        try {
          await this.start();
          return;
        } catch (error) {
          if (this.stopped) return;
          this.options.log.error({ err: error }, `the task queue could not start; retrying in ${RETRY_START_MS / 1000} s`);
          await sleep(RETRY_START_MS, undefined, { signal: this.aborts.signal }).catch(() => undefined);
        }
      }
    })();
  }

  /** Whether graphile-worker's schema exists in the database (it does after the first start() of any process). */
  static async queueExists(db: Kysely<Database>): Promise<boolean> {
    const { rows } = await sql<{ found: boolean }>`SELECT to_regnamespace('graphile_worker') IS NOT NULL AS found`.execute(db);
    return rows[0]?.found === true;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.tick()
        .catch((error: unknown) => this.options.log.warn({ err: error }, 'task planning failed; retrying on the next tick'))
        .finally(() => this.schedule(this.options.settings.tickMs));
    }, ms);
    this.timer.unref();
  }

  private async runJob(job: SlotJob, meta: { attempts: number; max_attempts: number }): Promise<void> {
    const outcome = await runSlot(
      {
        db: this.options.db,
        lakehouse: await this.options.lakehouse,
        publicUrl: this.options.publicUrl,
        timeoutMs: this.options.settings.timeoutMs,
        nudgeWebhooks: () => this.options.nudgeWebhooks(),
        ...(this.options.beforeCommit ? { beforeCommit: this.options.beforeCommit } : {}),
      },
      job,
      meta.attempts,
      meta.attempts >= meta.max_attempts,
      this.aborts.signal,
    );
    this.options.log.info({ task: job.task_id, slot: job.slot, outcome, attempt: meta.attempts }, 'task run');
  }

  /** Queues every due slot (at most PLAN_BATCH); answers how many this process queued. Safe to call concurrently. */
  tick(): Promise<number> {
    return (this.ticking ??= this.plan().finally(() => (this.ticking = undefined)));
  }

  /** Deletes runs past TASK_RUN_RETENTION_DAYS (by real time, at most hourly per process). */
  private async prune(): Promise<void> {
    if (Date.now() - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = Date.now();
    const days = this.options.settings.runRetentionDays;
    await this.options.db
      .deleteFrom('task_runs')
      .where('created_at', '<', sql<Date>`now() - make_interval(days => ${days}::int)`)
      .execute();
  }

  private async plan(): Promise<number> {
    const { db, settings } = this.options;
    await this.prune();
    await this.liveness.sweep();
    await this.options.sweepJobs?.();
    const now = this.clock();
    const due = await db
      .selectFrom('tasks')
      .select(['environment_id', 'id', 'schedule', 'next_run_at'])
      .where('paused', '=', false)
      .where('next_run_at', '<=', now)
      .orderBy('next_run_at')
      .limit(PLAN_BATCH)
      .execute();
    let queued = 0;
    for (const task of due) {
      if (this.stopped) break;
      const slot = task.next_run_at as Date;
      const zone = await timeZoneOf(db, task.environment_id);
      // The next slot after now: overdue slots beyond this one are skipped, not replayed.
      const next = nextSlot(task.schedule, zone, now > slot ? now : slot);
      const done = await db.transaction().execute(async (trx) => {
        const advanced = await trx
          .updateTable('tasks')
          .set({ next_run_at: next })
          .where('environment_id', '=', task.environment_id)
          .where('id', '=', task.id)
          .where('paused', '=', false)
          .where('next_run_at', '=', slot)
          .returning('id')
          .executeTakeFirst();
        if (!advanced) return false;
        const payload: SlotJob = { environment_id: task.environment_id, task_id: task.id, slot: slot.toISOString() };
        // Raw SQL: graphile-worker's add_job function, in this transaction; and its jobs view to pick the lane.
        const lane = await sql<{ lane: number }>`
          SELECT l AS lane FROM generate_series(0, ${settings.concurrencyPerEnv - 1}::int) AS l
          ORDER BY (SELECT count(*) FROM graphile_worker.jobs j WHERE j.queue_name = ${`tasks:${task.environment_id}:`} || l), l
          LIMIT 1`.execute(trx);
        await sql`SELECT graphile_worker.add_job(
            identifier => ${RUN_TASK},
            payload => ${JSON.stringify(payload)}::json,
            queue_name => ${`tasks:${task.environment_id}:${lane.rows[0]?.lane ?? 0}`},
            max_attempts => ${settings.maxAttempts}::int,
            job_key => ${jobKey(task.id, slot)},
            job_key_mode => 'preserve_run_at')`.execute(trx);
        return true;
      });
      if (done) queued++;
    }
    return queued;
  }

  /** Stops planning, cancels the SQL of runs in flight and waits for the runner to finish them. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.aborts.abort(new Error('the server is stopping'));
    await this.ticking?.catch(() => undefined);
    await this.starting; // a runner that started meanwhile stopped itself
    await this.runner?.stop();
    await this.liveness.close();
  }
}

/** The queue's key of a task's slot (tests read the queue by it). */
export const jobKey = (taskId: string, slot: Date) => `task:${taskId}:${slot.toISOString()}`;
