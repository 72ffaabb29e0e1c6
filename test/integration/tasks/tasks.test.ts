import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import type { ToolIO } from '../../../src/generated/handlers.js';
import { MAX_TASKS_PER_ENVIRONMENT } from '../../../src/assets/tasks.js';
import { jobKey } from '../../../src/tasks/scheduler.js';
import { NEW_LOCK_GRACE_SECONDS } from '../../../src/tasks/worker-liveness.js';
import { assertReaderRefused, call, callError, eventually, startAssetHarness, type AssetHarness } from '../assets/harness.js';
import { startScheduler, testClock, type SchedulerHandle } from './harness.js';

// Scheduled tasks (issue 17, items 6 and 7) on the run's sample (about 1.1M events over 90 days: a signup
// spike on day 40, a checkout outage on days 62-64, a bot on day 75), through the real MCP client, with
// schedulers that read an injected clock, two of them on one database as two server processes would be.

type Task = ToolIO['create_task']['output'];

/** The sample's day number (0-89) of an event, counted from the launch-week signups of day 40. */
const DAY = `(occurred_at::DATE - (SELECT min(occurred_at)::DATE FROM events WHERE event = 'signup' AND (properties->>'utm_source') = 'launch_week') + 40)`;
const DAILY_EVENTS = `SELECT ${DAY} AS day, count(*) AS events FROM events GROUP BY 1 ORDER BY 1`;
const DAILY_SIGNUPS = `SELECT ${DAY} AS day, count(*) AS signups FROM events WHERE event = 'signup' GROUP BY 1 ORDER BY 1`;
const OUTAGE_PURCHASES = `SELECT count(*) FILTER (WHERE event = 'purchase') AS purchases FROM events WHERE ${DAY} = 63`;

let h: AssetHarness;
const schedulers: SchedulerHandle[] = [];

before(async () => {
  h = await startAssetHarness();
});
after(async () => {
  for (const s of schedulers) await s.stop();
  await h?.close();
});

async function scheduler(...args: Parameters<typeof startScheduler> extends [unknown, ...infer R] ? R : never): Promise<SchedulerHandle> {
  const handle = await startScheduler(h, ...args);
  schedulers.push(handle);
  return handle;
}

/** Pauses every task so far and empties the queue, so that only the test's own tasks fall due and fill its lanes. */
async function quiesce(): Promise<void> {
  await h.database.db.updateTable('tasks').set({ paused: true, next_run_at: null }).execute();
  await sql`DELETE FROM graphile_worker._private_jobs`.execute(h.database.db);
  await sql`DELETE FROM graphile_worker._private_job_queues`.execute(h.database.db);
}

/** Stops every scheduler so far, so that only the test's own run jobs. */
async function stopAll(): Promise<void> {
  for (const s of schedulers.splice(0)) await s.stop();
}

const create = (args: ToolIO['create_task']['arguments']) => call(h.clients.a, 'create_task', args);

async function runsOf(taskId: string) {
  return h.database.db.selectFrom('task_runs').selectAll().where('task_id', '=', taskId).orderBy('slot').execute();
}

/** Moves the clock to the task's next slot and has every scheduler tick at once; answers how many queued it. */
async function fireSlot(task: { id: string }, clock: { now: Date }, handles: SchedulerHandle[]): Promise<{ slot: Date; queued: number }> {
  const row = await h.database.db.selectFrom('tasks').select('next_run_at').where('id', '=', task.id).executeTakeFirstOrThrow();
  const slot = row.next_run_at!;
  clock.now = new Date(slot.getTime() - 1_000);
  assert.equal(
    (await Promise.all(handles.map((s) => s.scheduler.tick()))).reduce((a, b) => a + b, 0),
    0,
    'nothing is due before the slot',
  );
  clock.now = slot;
  const queued = (await Promise.all(handles.map((s) => s.scheduler.tick()))).reduce((a, b) => a + b, 0);
  return { slot, queued };
}

async function runOf(taskId: string, slot: Date) {
  return eventually(
    async () => (await runsOf(taskId)).find((r) => r.slot.getTime() === slot.getTime()),
    60_000,
    `the run of task ${taskId} at ${slot.toISOString()}`,
  );
}

describe('scheduled tasks: each kind on the sample', () => {
  let clock: ReturnType<typeof testClock>;
  let one: SchedulerHandle;
  before(async () => {
    clock = testClock(new Date());
    one = await scheduler(clock);
  });

  it('a monitor finds the outage day without purchases, raises a discovery and notifies', async () => {
    await quiesce();
    const task = await create({
      title: 'Purchases on outage day',
      schedule: '0 9 * * *',
      definition: { kind: 'monitor', sql: OUTAGE_PURCHASES, connection: 'sample', op: 'lt', threshold: 1 },
      notify: true,
    });
    assert.equal(task.kind, 'monitor');
    assert.equal(task.time_zone, 'UTC');
    assert.match(task.next_run_at ?? '', /T09:00:00\.000Z$/);
    const { slot, queued } = await fireSlot(task, clock, [one]);
    assert.equal(queued, 1);
    const run = await runOf(task.id, slot);
    assert.equal(run.outcome, 'finding', run.error ?? run.summary);
    assert.match(run.summary, /purchases is 0, below the threshold 1/);
    const discovery = await call(h.clients.a, 'view_discovery', { id: run.discovery_id! });
    assert.match(discovery.discovery.title, /^Purchases on outage day: Monitor/);
    assert.equal(discovery.discovery.created_by, `task:${task.id}`);
    assert.equal(discovery.discovery.sql, OUTAGE_PURCHASES);
    assert.ok(discovery.discovery.notification_id, 'notify: true sends a notification');
    // The next slot is planned for the next day.
    const viewed = await call(h.clients.a, 'view_task', { id: task.id });
    assert.equal(new Date(viewed.task.next_run_at!).getTime() - slot.getTime(), 86_400_000);
    assert.equal(viewed.runs.length, 1);
    assert.equal(viewed.runs[0]?.outcome, 'finding');
    assert.deepEqual(viewed.runs[0]?.result, { value: 0, op: 'lt', threshold: 1 }, "the latest run's result in full");
  });

  it('a monitor over a semantic-model measure finds nothing when the value is within bounds', async () => {
    await quiesce();
    const task = await create({
      title: 'Events yesterday',
      schedule: '30 6 * * *',
      definition: { kind: 'monitor', model: 'product_events', measure: 'events', op: 'gt', threshold: 1e12 },
    });
    const { slot } = await fireSlot(task, clock, [one]);
    const run = await runOf(task.id, slot);
    assert.equal(run.outcome, 'nothing', run.error ?? run.summary);
    assert.equal(run.discovery_id, null);
    assert.match(run.summary, /^events is \d+, not above the threshold 1000000000000\./);
  });

  it('anomaly detection flags the bot day (75) in daily events and the launch day (40) in signups', async () => {
    await quiesce();
    const events = await create({
      title: 'Daily events',
      schedule: '0 7 * * *',
      definition: { kind: 'anomaly_detection', sql: DAILY_EVENTS, connection: 'sample', check_last: 60 },
    });
    const signups = await create({
      title: 'Daily signups',
      schedule: '0 7 * * *',
      definition: { kind: 'anomaly_detection', sql: DAILY_SIGNUPS, connection: 'sample', check_last: 60, sensitivity: 4 },
    });
    const { slot, queued } = await fireSlot(events, clock, [one]);
    assert.equal(queued, 2, 'both tasks share the slot');
    const [eventRun, signupRun] = [await runOf(events.id, slot), await runOf(signups.id, slot)];
    assert.equal(eventRun.outcome, 'finding', eventRun.error ?? eventRun.summary);
    const flagged = (run: typeof eventRun) => (run.result.anomalies as { period: string; z: number }[]).map((a) => a.period);
    assert.ok(flagged(eventRun).includes('75'), `events: ${eventRun.summary}`);
    assert.ok(flagged(signupRun).includes('40'), `signups: ${signupRun.summary}`);
    assert.equal(signupRun.result.checked, 60);
  });

  it('a forecast gives the next 7 days of signups with 95% intervals', async () => {
    await quiesce();
    const task = await create({
      title: 'Signups next week',
      schedule: '0 8 * * 1',
      definition: {
        kind: 'forecast',
        sql: `${DAILY_SIGNUPS.replace('ORDER BY 1', 'HAVING day >= 45 ORDER BY 1')}`,
        connection: 'sample',
        horizon: 7,
      },
    });
    assert.equal(task.severity, 'info');
    const { slot } = await fireSlot(task, clock, [one]);
    const run = await runOf(task.id, slot);
    assert.equal(run.outcome, 'finding', run.error ?? run.summary);
    const forecast = run.result.forecast as { step: number; value: number; lower: number; upper: number }[];
    assert.deepEqual(
      forecast.map((p) => p.step),
      [1, 2, 3, 4, 5, 6, 7],
    );
    for (const p of forecast) assert.ok(p.lower < p.value && p.value < p.upper && p.value > 0, JSON.stringify(p));
    assert.match(run.summary, /^Holt-Winters \(additive, season 7/);
  });

  it('a failing task records its error, and the others of its slot still run', async () => {
    await quiesce();
    const broken = await create({
      title: 'Broken',
      schedule: '15 5 * * *',
      definition: { kind: 'monitor', sql: 'SELECT no_such_column FROM events', connection: 'sample', op: 'gt', threshold: 0 },
    });
    const fine = await create({
      title: 'Fine',
      schedule: '15 5 * * *',
      definition: { kind: 'monitor', sql: 'SELECT 1', op: 'gt', threshold: 0 },
    });
    const { slot } = await fireSlot(broken, clock, [one]);
    const failed = await runOf(broken.id, slot);
    assert.equal(failed.outcome, 'failed');
    assert.match(failed.error ?? '', /^sql_error: .*no_such_column/);
    assert.equal((await runOf(fine.id, slot)).outcome, 'finding');
    const listed = await call(h.clients.a, 'list_tasks', {});
    assert.equal(listed.items.find((t) => t.id === broken.id)?.last_run?.outcome, 'failed');
  });

  it('too little history is a failed run that says how much is needed', async () => {
    await quiesce();
    const task = await create({
      title: 'Short',
      schedule: '0 4 * * *',
      definition: { kind: 'forecast', sql: 'SELECT * FROM (VALUES (1, 5), (2, 6), (3, 7)) t(d, v)', horizon: 3 },
    });
    const { slot } = await fireSlot(task, clock, [one]);
    assert.match((await runOf(task.id, slot)).error ?? '', /needs at least 15 periods; the data has 3/);
  });
});

describe('scheduled tasks: exactly once, retries, pause, delete', () => {
  it('two schedulers on one database queue and commit each slot once', async () => {
    await stopAll();
    await quiesce();
    const clock = testClock(new Date());
    const [p1, p2] = [await scheduler(clock), await scheduler(clock)];
    const task = await create({
      title: 'Twice?',
      schedule: '*/5 * * * *',
      definition: { kind: 'monitor', sql: 'SELECT 2', op: 'gt', threshold: 1 },
    });
    for (let i = 0; i < 3; i++) {
      const { slot, queued } = await fireSlot(task, clock, [p1, p2]);
      assert.equal(queued, 1, `slot ${i}: queued once between both`);
      await runOf(task.id, slot);
    }
    const runs = await runsOf(task.id);
    assert.equal(runs.length, 3);
    const discoveries = await h.database.db.selectFrom('discoveries').select('id').where('created_by', '=', `task:${task.id}`).execute();
    assert.equal(discoveries.length, 3, 'one discovery per slot');
    // A slot's run that comes again (a re-added job) commits nothing more.
    const { runSlot } = await import('../../../src/tasks/run-task.js');
    const again = await runSlot(
      { db: h.database.db, lakehouse: h.lakehouse, publicUrl: '', timeoutMs: 5_000, nudgeWebhooks: () => undefined },
      { environment_id: h.env.a.id, task_id: task.id, slot: runs[0]!.slot.toISOString() },
      1,
      false,
      new AbortController().signal,
    );
    assert.equal(again, 'duplicate');
    assert.equal((await runsOf(task.id)).length, 3);
    await call(h.clients.a, 'update_task', { id: task.id, paused: true });
  });

  it('a run that crashes is retried under the same key and slot, and commits once', async () => {
    await stopAll();
    await quiesce();
    const clock = testClock(new Date());
    const crashes: number[] = [];
    const flaky = await scheduler(clock, {
      beforeCommit: (job, attempt) => {
        if (job.task_id === taskId && attempt === 1) {
          crashes.push(attempt);
          throw new Error('worker lost its database mid-run');
        }
      },
    });
    const task = await create({
      title: 'Flaky',
      schedule: '0 3 * * *',
      definition: { kind: 'monitor', sql: 'SELECT 5', op: 'gt', threshold: 1 },
    });
    const taskId = task.id;
    const { slot } = await fireSlot(task, clock, [flaky]);
    const run = await runOf(task.id, slot);
    assert.deepEqual(crashes, [1]);
    assert.equal(run.attempt, 2);
    assert.equal(run.outcome, 'finding');
    assert.equal((await runsOf(task.id)).length, 1);
  });

  it("a run whose process was killed is retried at the next tick, not after the queue's 4-hour lock expiry", async () => {
    await stopAll();
    await quiesce();
    const clock = testClock(new Date());
    // A process that plans but runs nothing, then the job as a killed process leaves it: locked by a worker
    // that no process marks alive. A live worker (its lock held on a connection) keeps its job. A lane per task,
    // so that each job's queue is locked by its own worker.
    const settings = { concurrencyPerEnv: 3 };
    const planner = await scheduler(clock, { settings: { ...settings, workers: 0 } });
    const killed = await create({
      title: 'Killed',
      schedule: '0 4 * * *',
      definition: { kind: 'monitor', sql: 'SELECT 7', op: 'gt', threshold: 1 },
    });
    const alive = await create({
      title: 'Alive',
      schedule: '0 4 * * *',
      definition: { kind: 'monitor', sql: 'SELECT 8', op: 'gt', threshold: 1 },
    });
    // A worker that took its first job an instant before its process took the worker's lock: not dead.
    const newborn = await create({
      title: 'Newborn',
      schedule: '0 4 * * *',
      definition: { kind: 'monitor', sql: 'SELECT 9', op: 'gt', threshold: 1 },
    });
    const [{ slot }] = [
      await fireSlot(killed, clock, [planner]),
      await fireSlot(alive, clock, [planner]),
      await fireSlot(newborn, clock, [planner]),
    ];
    const lockJob = (task: { id: string }, worker: string, secondsAgo: number) =>
      sql`WITH job AS (
            UPDATE graphile_worker._private_jobs
            SET locked_by = ${worker}, locked_at = now() - make_interval(secs => ${secondsAgo}), attempts = attempts + 1
            WHERE key = ${jobKey(task.id, slot)} RETURNING job_queue_id)
          UPDATE graphile_worker._private_job_queues SET locked_by = ${worker}, locked_at = now() - make_interval(secs => ${secondsAgo})
          WHERE id IN (SELECT job_queue_id FROM job)`.execute(h.database.db);
    await lockJob(killed, 'worker-killed-with-its-process', 60);
    await lockJob(alive, 'worker-alive-elsewhere', 60);
    await lockJob(newborn, 'worker-just-created', 0);
    const liveProcess = new pg.Client({ connectionString: h.database.url });
    await liveProcess.connect();
    try {
      await liveProcess.query(`SELECT pg_advisory_lock(${0x7a5c}, hashtext('worker-alive-elsewhere'))`);
      const runner = await scheduler(clock, { settings });
      await runner.scheduler.tick();
      const run = await runOf(killed.id, slot);
      assert.equal(run.attempt, 2, 'the killed attempt counts; the retry commits');
      assert.equal(run.outcome, 'finding');
      const aliveJob = await sql<{
        locked_by: string | null;
      }>`SELECT locked_by FROM graphile_worker._private_jobs WHERE key = ${jobKey(alive.id, slot)}`.execute(h.database.db);
      assert.equal(aliveJob.rows[0]?.locked_by, 'worker-alive-elsewhere', "a live worker's job is left to it");
      // Only the slot under test: the planner's ticks also queued the tasks' next slots, and one of alive's may sit
      // in the lane of killed's job (the planning order of tasks due at once varies), freed with it and run.
      assert.equal((await runsOf(alive.id)).filter((r) => r.slot.getTime() === slot.getTime()).length, 0);
      const lockedBy = async (task: { id: string }) =>
        (
          await sql<{
            locked_by: string | null;
          }>`SELECT locked_by FROM graphile_worker._private_jobs WHERE key = ${jobKey(task.id, slot)}`.execute(h.database.db)
        ).rows[0]?.locked_by;
      assert.equal(await lockedBy(newborn), 'worker-just-created', `a job locked < ${NEW_LOCK_GRACE_SECONDS} s ago is left to its worker`);
      // Still without its lock once the grace is over: its process is gone, and the job is run.
      await sql`UPDATE graphile_worker._private_jobs SET locked_at = now() - make_interval(secs => ${NEW_LOCK_GRACE_SECONDS + 1})
                WHERE key = ${jobKey(newborn.id, slot)}`.execute(h.database.db);
      await runner.scheduler.tick();
      assert.equal((await runOf(newborn.id, slot)).attempt, 2);
    } finally {
      await liveProcess.end();
    }
    // Its process gone, the live worker's job is freed and run at the next tick too.
    await schedulers.at(-1)!.scheduler.tick();
    assert.equal((await runOf(alive.id, slot)).attempt, 2);
  });

  it('pause stops the schedule and resume plans the next slot after now', async () => {
    await stopAll();
    await quiesce();
    const clock = testClock(new Date());
    const s = await scheduler(clock);
    const task = await create({
      title: 'Pausable',
      schedule: '0 2 * * *',
      definition: { kind: 'monitor', sql: 'SELECT 1', op: 'gt', threshold: 0 },
    });
    const paused = await call(h.clients.a, 'update_task', { id: task.id, paused: true });
    assert.equal(paused.paused, true);
    assert.equal(paused.next_run_at, undefined);
    assert.equal(paused.version, 2);
    clock.now = new Date(Date.now() + 3 * 86_400_000);
    await s.scheduler.tick();
    assert.equal((await runsOf(task.id)).length, 0);
    const resumed = await call(h.clients.a, 'update_task', { id: task.id, paused: false, schedule: '0 3 * * *' });
    assert.match(resumed.next_run_at ?? '', /T03:00:00\.000Z$/);
    assert.ok(new Date(resumed.next_run_at!).getTime() > Date.now());
    await call(h.clients.a, 'update_task', { id: task.id, paused: true });
  });

  it('deleting a task stops its schedule, also for a slot already queued', async () => {
    await stopAll();
    await quiesce();
    const clock = testClock(new Date());
    // A process that plans but runs no task (TASK_WORKERS=0): the slot waits in the queue.
    const planner = await scheduler(clock, { settings: { workers: 0 } });
    const task = await create({
      title: 'Doomed',
      schedule: '0 1 * * *',
      definition: { kind: 'monitor', sql: 'SELECT 1', op: 'gt', threshold: 0 },
    });
    const { slot, queued } = await fireSlot(task, clock, [planner]);
    assert.equal(queued, 1);
    const [queuedJob] = (
      await sql<{ key: string }>`SELECT key FROM graphile_worker.jobs WHERE key = ${jobKey(task.id, slot)}`.execute(h.database.db)
    ).rows;
    assert.ok(queuedJob, 'the slot is in the queue');
    assert.deepEqual(await call(h.clients.a, 'delete_task', { id: task.id }), { deleted: true });
    assert.deepEqual(await call(h.clients.a, 'delete_task', { id: task.id }), { deleted: false });
    const worker = await scheduler(clock);
    await eventually(
      async () =>
        (
          await sql<{ n: number }>`SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE key = ${jobKey(task.id, slot)}`.execute(
            h.database.db,
          )
        ).rows[0]?.n === 0,
      60_000,
      'the queued slot to be taken',
    );
    clock.now = new Date(slot.getTime() + 2 * 86_400_000);
    assert.equal(await worker.scheduler.tick(), 0);
    assert.equal((await runsOf(task.id)).length, 0);
    assert.equal((await callError(h.clients.a, 'view_task', { id: task.id })).code, 'not_found');
  });
});

describe('scheduled tasks: who may do what, and hostile input', () => {
  let task: Task;
  before(async () => {
    task = await create({
      title: 'Guarded',
      schedule: '0 0 1 * *',
      definition: { kind: 'monitor', sql: 'SELECT 1', op: 'gt', threshold: 0 },
    });
  });

  it('a read token lists and views tasks but cannot create, change or delete one', async () => {
    await assertReaderRefused(h.servers.a, 'create_task', {
      title: 'x',
      schedule: '0 0 * * *',
      definition: { kind: 'monitor', sql: 'SELECT 1', op: 'gt', threshold: 0 },
    });
    await assertReaderRefused(h.servers.a, 'update_task', { id: task.id, paused: true });
    await assertReaderRefused(h.servers.a, 'delete_task', { id: task.id });
    assert.ok((await call(h.clients.reader, 'list_tasks', {})).items.some((t) => t.id === task.id));
    assert.equal((await call(h.clients.reader, 'view_task', { id: task.id })).task.title, 'Guarded');
  });

  it("another environment's task ids are not found", async () => {
    assert.equal((await callError(h.clients.b, 'view_task', { id: task.id })).code, 'not_found');
    assert.equal((await callError(h.clients.b, 'update_task', { id: task.id, paused: true })).code, 'not_found');
    assert.deepEqual(await call(h.clients.b, 'delete_task', { id: task.id }), { deleted: false });
    assert.ok(!(await call(h.clients.b, 'list_tasks', {})).items.some((t) => t.id === task.id));
    assert.equal((await call(h.clients.a, 'view_task', { id: task.id })).task.paused, false);
  });

  it('refuses bad cron, unknown kinds, huge values and incomplete definitions with what to do, creating nothing', async () => {
    const before = (
      await h.database.db
        .selectFrom('tasks')
        .select(sql<number>`count(*)::int`.as('n'))
        .executeTakeFirstOrThrow()
    ).n;
    const monitor = { kind: 'monitor', sql: 'SELECT 1', op: 'gt', threshold: 0 };
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ schedule: 'every day at nine' }, 'invalid_task', /has 4 fields; give 5/],
      [{ schedule: '* * * * * *' }, 'invalid_task', /has 6 fields/],
      [{ schedule: '99 * * * *' }, 'invalid_task', /not a valid cron expression/],
      [{ schedule: '0 0 30 2 *' }, 'invalid_task', /never fires/],
      [{ definition: { ...monitor, kind: 'mind_reading' } }, 'validation_failed', /kind/],
      [{ definition: { kind: 'forecast', sql: 'SELECT 1', horizon: 1e9 } }, 'validation_failed', /horizon/],
      [{ definition: { kind: 'anomaly_detection', sql: 'SELECT 1', sensitivity: 1e308 } }, 'validation_failed', /sensitivity/],
      [{ definition: { ...monitor, sql: 'x'.repeat(30_000) } }, 'validation_failed', /sql/],
      [{ definition: { kind: 'monitor', sql: 'SELECT 1' } }, 'invalid_task', /needs `op`/],
      [
        { definition: { kind: 'forecast', sql: 'SELECT 1', model: 'product_events', measure: 'events' } },
        'invalid_task',
        /either as `sql`/,
      ],
      [{ definition: { kind: 'forecast', model: 'product_events' } }, 'invalid_task', /both `model` and `measure`/],
      [{ definition: { ...monitor, extra: 1 } }, 'validation_failed', /extra/],
    ];
    for (const [change, code, message] of cases) {
      const error = await callError(h.clients.a, 'create_task', { title: 'Bad', schedule: '0 0 * * *', definition: monitor, ...change });
      assert.equal(error.code, code, JSON.stringify(change).slice(0, 80));
      assert.match(error.message, message);
    }
    assert.equal((await callError(h.clients.a, 'update_task', { id: task.id, schedule: 'nope nope' })).code, 'invalid_task');
    assert.equal((await callError(h.clients.a, 'update_task', { id: task.id, schedule: '' })).code, 'validation_failed');
    const after = (
      await h.database.db
        .selectFrom('tasks')
        .select(sql<number>`count(*)::int`.as('n'))
        .executeTakeFirstOrThrow()
    ).n;
    assert.equal(after, before);
  });

  it("refuses a task past the environment's maximum, saying what to do, and creates nothing", async () => {
    const tasks = () =>
      h.database.db
        .selectFrom('tasks')
        .select(sql<number>`count(*)::int`.as('n'))
        .where('environment_id', '=', h.env.a.id)
        .executeTakeFirstOrThrow();
    const filler = MAX_TASKS_PER_ENVIRONMENT - (await tasks()).n;
    // Filled in SQL (a paused task each), as an agent looping on create_task would fill it.
    const inserted = await h.database.db
      .insertInto('tasks')
      .values(
        Array.from({ length: filler }, (_, i) => ({
          environment_id: h.env.a.id,
          title: `filler ${i}`,
          kind: 'monitor',
          definition: { kind: 'monitor', sql: 'SELECT 1', op: 'gt', threshold: 0 },
          schedule: '0 0 * * *',
          severity: 'warning',
          notify: false,
          paused: true,
          next_run_at: null,
          created_by: 'test',
        })),
      )
      .returning('id')
      .execute();
    try {
      const error = await callError(h.clients.a, 'create_task', {
        title: 'One too many',
        schedule: '0 0 * * *',
        definition: { kind: 'monitor', sql: 'SELECT 1', op: 'gt', threshold: 0 },
      });
      assert.equal(error.code, 'invalid_task');
      assert.match(error.message, new RegExp(`maximum of ${MAX_TASKS_PER_ENVIRONMENT} tasks: delete one`));
      assert.equal((await tasks()).n, MAX_TASKS_PER_ENVIRONMENT);
    } finally {
      await h.database.db
        .deleteFrom('tasks')
        .where(
          'id',
          'in',
          inserted.map((r) => r.id),
        )
        .execute();
    }
  });

  it('serves the REST routes of the contract', async () => {
    const headers = { authorization: `Bearer ${h.servers.a.tokens.readWrite}`, 'content-type': 'application/json' };
    const created = await fetch(`${h.servers.a.url}/api/v1/tasks`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        title: 'Over REST',
        schedule: '0 12 * * *',
        definition: { kind: 'forecast', sql: DAILY_SIGNUPS, connection: 'sample' },
      }),
    });
    assert.equal(created.status, 200);
    const body = (await created.json()) as Task;
    assert.equal(body.definition.horizon, 7, 'defaults filled in');
    const patched = await fetch(`${h.servers.a.url}/api/v1/tasks/${body.id}`, {
      method: 'PATCH',
      headers,
      body: JSON.stringify({ paused: true }),
    });
    assert.equal(((await patched.json()) as Task).paused, true);
    const viewed = await fetch(`${h.servers.a.url}/api/v1/tasks/${body.id}`, {
      headers: { authorization: `Bearer ${h.servers.a.tokens.read}` },
    });
    assert.equal(((await viewed.json()) as { task: Task }).task.id, body.id);
    const refused = await fetch(`${h.servers.a.url}/api/v1/tasks`, {
      method: 'POST',
      headers: { ...headers, authorization: `Bearer ${h.servers.a.tokens.read}` },
      body: JSON.stringify({ title: 'x', schedule: '0 12 * * *', definition: { kind: 'forecast', sql: 'SELECT 1' } }),
    });
    assert.equal(refused.status, 403);
    const deleted = await fetch(`${h.servers.a.url}/api/v1/tasks/${body.id}`, { method: 'DELETE', headers });
    assert.deepEqual(await deleted.json(), { deleted: true });
  });
});
