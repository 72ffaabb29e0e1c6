import crypto from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { AppError } from '../errors.js';
import type { Lakehouse } from '../lakehouse/lakehouse.js';
import type { Principal } from '../oauth/principal.js';
import { storeNotification } from '../assets/notifications.js';
import { timeZoneOf } from '../operations/environment-time-zone.js';
import { evaluate, type Evaluation, type FilledDefinition } from './evaluate.js';

// One run of one slot of a task, as the queue's job calls it. The result commits in one transaction with the
// run row, whose unique (task_id, slot) lets only the first run of a slot commit: a second process that ran
// the same slot (a job re-added after the first was done, a retry racing a slow commit) finds the row there,
// rolls back and creates nothing. The task's own failures (bad SQL, too little history) are results too: the
// run is recorded as failed with its error. Anything else (the database gone mid-run, a worker crash) throws,
// so that the queue retries the job under the same key and slot; the last attempt records the error.

export interface SlotJob {
  environment_id: string;
  task_id: string;
  /** ISO 8601. */
  slot: string;
}

export interface RunDeps {
  db: Kysely<Database>;
  lakehouse: Lakehouse;
  publicUrl: string;
  timeoutMs: number;
  nudgeWebhooks(): void;
  /** Fault injection for tests: called before the result commits. */
  beforeCommit?: (job: SlotJob, attempt: number) => void | Promise<void>;
}

export type RunOutcome = 'finding' | 'nothing' | 'failed' | 'skipped' | 'duplicate';

/** Who a task's discoveries and notifications come from. */
async function taskPrincipal(db: Kysely<Database>, environmentId: string, taskId: string): Promise<Principal> {
  const names = await db
    .selectFrom('environments')
    .innerJoin('organizations', 'organizations.id', 'environments.organization_id')
    .select(['environments.name as environment', 'organizations.name as organization', 'organizations.id as organization_id'])
    .where('environments.id', '=', environmentId)
    .executeTakeFirstOrThrow();
  return {
    subject: `task:${taskId}`,
    kind: 'service',
    clientId: 'scheduler',
    subjectName: `task ${taskId}`,
    clientName: 'scheduler',
    organizationId: names.organization_id,
    organization: names.organization,
    environmentId,
    environment: names.environment,
    scopes: new Set(),
    tokenId: '',
    grantId: undefined,
    expiresAt: 0,
  };
}

const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

export async function runSlot(
  deps: RunDeps,
  job: SlotJob,
  attempt: number,
  lastAttempt: boolean,
  signal: AbortSignal,
): Promise<RunOutcome> {
  const { db } = deps;
  const task = await db
    .selectFrom('tasks')
    .select(['id', 'title', 'definition', 'severity', 'notify', 'paused'])
    .where('environment_id', '=', job.environment_id)
    .where('id', '=', job.task_id)
    .executeTakeFirst();
  // Deleted or paused since the slot was queued: its schedule stopped.
  if (!task || task.paused) return 'skipped';
  const slot = new Date(job.slot);
  const done = await db
    .selectFrom('task_runs')
    .select('slot')
    .where('task_id', '=', job.task_id)
    .where('slot', '=', slot)
    .executeTakeFirst();
  if (done) return 'duplicate';

  const startedAt = new Date();
  let evaluation: Evaluation | undefined;
  let error: string | undefined;
  try {
    evaluation = await evaluate(task.definition as FilledDefinition, {
      db,
      lakehouse: deps.lakehouse,
      environmentId: job.environment_id,
      timeZone: await timeZoneOf(db, job.environment_id),
      slot,
      timeoutMs: deps.timeoutMs,
      signal,
    });
    await deps.beforeCommit?.(job, attempt);
  } catch (caught) {
    // Stopping: the job is retried by another process (or this one after its restart).
    if (signal.aborted) throw caught;
    if (caught instanceof AppError && caught.expose) error = `${caught.code}: ${caught.message}`;
    else if (lastAttempt) error = `internal: the run failed ${attempt} times; last: ${(caught as Error).message}`;
    else throw caught;
  }
  const durationMs = Date.now() - startedAt.getTime();
  const outcome = error !== undefined ? 'failed' : evaluation!.finding ? 'finding' : 'nothing';
  const committed = await db.transaction().execute(async (trx) => {
    const run = await trx
      .insertInto('task_runs')
      .values({
        environment_id: job.environment_id,
        task_id: job.task_id,
        slot,
        started_at: startedAt,
        duration_ms: durationMs,
        outcome,
        summary: clip(evaluation?.summary ?? 'The run failed; see its error.', 8000),
        error: error === undefined ? null : clip(error, 2000),
        attempt,
        result: evaluation?.result ?? {},
      })
      .onConflict((oc) => oc.columns(['task_id', 'slot']).doNothing())
      .returning('slot')
      .executeTakeFirst();
    if (!run) return false;
    if (outcome !== 'finding' || !evaluation) return true;
    const principal = await taskPrincipal(trx, job.environment_id, job.task_id);
    const discoveryId = crypto.randomUUID();
    const title = clip(`${task.title}: ${evaluation.title}`, 200);
    const notification = task.notify
      ? await storeNotification(
          trx,
          principal,
          deps.publicUrl,
          { title: clip(`Discovery: ${title}`, 200), body: clip(evaluation.summary, 8000), severity: task.severity },
          { discoveryId },
        )
      : undefined;
    await trx
      .insertInto('discoveries')
      .values({
        id: discoveryId,
        environment_id: job.environment_id,
        title,
        summary: clip(evaluation.summary, 8000),
        severity: task.severity,
        sql: clip(evaluation.sql, 100_000),
        notification_id: notification?.id ?? null,
        created_by: principal.subject,
      })
      .execute();
    await trx
      .updateTable('task_runs')
      .set({ discovery_id: discoveryId })
      .where('task_id', '=', job.task_id)
      .where('slot', '=', slot)
      .execute();
    return true;
  });
  if (!committed) return 'duplicate';
  if (outcome === 'finding' && task.notify) deps.nudgeWebhooks();
  return outcome;
}
