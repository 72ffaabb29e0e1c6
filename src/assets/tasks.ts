import { sql, type Kysely } from 'kysely';
import type { Database, Severity } from '../db/schema.js';
import { AppError } from '../errors.js';
import type { ToolHandler, ToolIO } from '../generated/handlers.js';
import type { TaskDefinition } from '../generated/tool-types.js';
import { timeZoneOf } from '../operations/environment-time-zone.js';
import { definitionProblem } from '../tasks/evaluate.js';
import { nextSlot } from '../tasks/schedule.js';
import { actorOf, afterCursor, assetNotFound, compact, decodeCursor, iso, page, SORT_KEY_SQL, staleVersion } from './common.js';
import { deleteResult } from './delete-asset.js';

// The scheduled-task tools (issue 17, item 6). The scheduler (src/tasks/scheduler.ts) plans a task's slots from
// `next_run_at`; these tools set it: the first slot after now on create, resume and a new schedule, NULL on pause.

type Task = ToolIO['create_task']['output'];
type Run = ToolIO['view_task']['output']['runs'][number];

const COLUMNS = [
  'id',
  'version',
  'title',
  'kind',
  'definition',
  'schedule',
  'severity',
  'notify',
  'paused',
  'next_run_at',
  'created_by',
  'created_at',
  'updated_at',
] as const;
const RUN_COLUMNS = ['slot', 'started_at', 'duration_ms', 'outcome', 'summary', 'error', 'attempt', 'discovery_id', 'result'] as const;
/** Runs view_task shows. */
const RECENT_RUNS = 20;

interface TaskRow {
  id: string;
  version: number;
  title: string;
  kind: Task['kind'];
  definition: TaskDefinition;
  schedule: string;
  severity: Severity;
  notify: boolean;
  paused: boolean;
  next_run_at: Date | null;
  created_by: string;
  created_at: Date;
  updated_at: Date;
}

interface RunRow {
  slot: Date;
  started_at: Date;
  duration_ms: number;
  outcome: Run['outcome'];
  summary: string;
  error: string | null;
  attempt: number;
  discovery_id: string | null;
  result: Record<string, unknown>;
}

/** A run as answered; `result` (values, anomalies, forecast) only where asked, to keep answers compact. */
const toRun = (row: RunRow, withResult = false): Run =>
  compact({
    ...row,
    slot: iso(row.slot),
    started_at: iso(row.started_at),
    result: withResult && Object.keys(row.result).length ? row.result : undefined,
  });

const toTask = (row: TaskRow, timeZone: string, lastRun?: RunRow): Task =>
  compact({
    ...row,
    time_zone: timeZone,
    next_run_at: row.next_run_at ? iso(row.next_run_at) : undefined,
    last_run: lastRun ? toRun(lastRun) : undefined,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  });

/** The severity of a kind's discoveries: a forecast without a threshold only informs. */
const severityOf = (definition: TaskDefinition): Severity =>
  definition.kind === 'forecast' && definition.threshold === undefined ? 'info' : 'warning';

function checkDefinition(definition: TaskDefinition): void {
  const problem = definitionProblem(definition);
  if (problem) throw new AppError('invalid_task', `${problem} docs/tasks.md shows a definition of each kind.`);
}

async function findTask(db: Kysely<Database>, environmentId: string, id: string): Promise<TaskRow> {
  const row = await db
    .selectFrom('tasks')
    .select(COLUMNS)
    .where('environment_id', '=', environmentId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw assetNotFound('task', id);
  return row;
}

async function recentRuns(db: Kysely<Database>, environmentId: string, taskId: string, limit: number): Promise<RunRow[]> {
  return db
    .selectFrom('task_runs')
    .select(RUN_COLUMNS)
    .where('environment_id', '=', environmentId)
    .where('task_id', '=', taskId)
    .orderBy('slot', 'desc')
    .limit(limit)
    .execute();
}

/**
 * Tasks one environment may hold: each is recurring work in the environment's queue, so an agent that loops on
 * create_task must meet a limit, not fill the queue. Checked before the insert (two creates at once may pass it
 * together: a bound, not an exact count).
 */
export const MAX_TASKS_PER_ENVIRONMENT = 200;

export const createTask: ToolHandler<'create_task'> = async (input, ctx) => {
  const environmentId = ctx.principal.environmentId;
  checkDefinition(input.definition);
  const { count } = await ctx.db
    .selectFrom('tasks')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .where('environment_id', '=', environmentId)
    .executeTakeFirstOrThrow();
  if (Number(count) >= MAX_TASKS_PER_ENVIRONMENT)
    throw new AppError(
      'invalid_task',
      `This environment has its maximum of ${MAX_TASKS_PER_ENVIRONMENT} tasks: delete one it no longer needs (list_tasks, delete_task) or change one (update_task).`,
    );
  const zone = await timeZoneOf(ctx.db, environmentId);
  const next = nextSlot(input.schedule, zone, new Date());
  const row = await ctx.db
    .insertInto('tasks')
    .values({
      environment_id: environmentId,
      title: input.title,
      kind: input.definition.kind,
      definition: input.definition,
      schedule: input.schedule.trim(),
      severity: severityOf(input.definition),
      notify: input.notify,
      next_run_at: next,
      created_by: actorOf(ctx.principal),
    })
    .returning(COLUMNS)
    .executeTakeFirstOrThrow();
  return toTask(row, zone);
};

export const listTasks: ToolHandler<'list_tasks'> = async (input, ctx) => {
  const environmentId = ctx.principal.environmentId;
  const limit = 20;
  const after = decodeCursor(input.cursor);
  let query = ctx.db
    .selectFrom('tasks')
    .select([...COLUMNS, sql<string>`${sql.raw(SORT_KEY_SQL)}`.as('sort_key')])
    .where('environment_id', '=', environmentId);
  if (after) query = query.where(afterCursor(after));
  const rows = await query
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  const { rows: kept, next_cursor } = page(rows, limit);
  const zone = await timeZoneOf(ctx.db, environmentId);
  const ids = kept.map((r) => r.id);
  const lastRuns =
    ids.length === 0
      ? []
      : await ctx.db
          .selectFrom('task_runs')
          .distinctOn('task_id')
          .select(['task_id', ...RUN_COLUMNS])
          .where('environment_id', '=', environmentId)
          .where('task_id', 'in', ids)
          .orderBy('task_id')
          .orderBy('slot', 'desc')
          .execute();
  const byTask = new Map(lastRuns.map(({ task_id, ...run }) => [task_id, run]));
  return compact({ items: kept.map(({ sort_key: _key, ...row }) => toTask(row, zone, byTask.get(row.id))), next_cursor });
};

export const viewTask: ToolHandler<'view_task'> = async (input, ctx) => {
  const environmentId = ctx.principal.environmentId;
  const row = await findTask(ctx.db, environmentId, input.id);
  const runs = await recentRuns(ctx.db, environmentId, row.id, RECENT_RUNS);
  // The latest run's result in full; older runs by their summaries.
  return { task: toTask(row, await timeZoneOf(ctx.db, environmentId)), runs: runs.map((run, i) => toRun(run, i === 0)) };
};

export const updateTask: ToolHandler<'update_task'> = async (input, ctx) => {
  const environmentId = ctx.principal.environmentId;
  const current = await findTask(ctx.db, environmentId, input.id);
  if (input.definition) checkDefinition(input.definition);
  const zone = await timeZoneOf(ctx.db, environmentId);
  const schedule = input.schedule?.trim() ?? current.schedule;
  const paused = input.paused ?? current.paused;
  // Resuming or rescheduling starts from the next slot after now; a change of definition alone keeps the plan.
  const replan = !paused && (current.paused || input.schedule !== undefined);
  const next = paused ? null : replan ? nextSlot(schedule, zone, new Date()) : current.next_run_at;
  const definition = input.definition ?? current.definition;
  const row = await ctx.db
    .updateTable('tasks')
    .set((eb) => ({
      schedule,
      paused,
      next_run_at: next,
      definition,
      kind: definition.kind,
      severity: severityOf(definition),
      notify: input.notify ?? current.notify,
      version: eb('version', '+', 1),
      updated_at: sql<Date>`now()`,
    }))
    .where('environment_id', '=', environmentId)
    .where('id', '=', input.id)
    .where('version', '=', current.version)
    .returning(COLUMNS)
    .executeTakeFirst();
  if (!row) {
    const now = await findTask(ctx.db, environmentId, input.id);
    throw staleVersion('task', input.id, current.version, now.version);
  }
  const [last] = await recentRuns(ctx.db, environmentId, row.id, 1);
  return toTask(row, zone, last);
};

/** Deleting a task ends its schedule: a slot already queued finds no task and runs nothing. */
export const deleteTask: ToolHandler<'delete_task'> = async (input, ctx) => {
  const row = await ctx.db
    .deleteFrom('tasks')
    .where('environment_id', '=', ctx.principal.environmentId)
    .where('id', '=', input.id)
    .returning('id')
    .executeTakeFirst();
  return deleteResult(ctx, 'task', input.id, row !== undefined);
};
