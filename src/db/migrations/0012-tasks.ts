import { sql, type Kysely } from 'kysely';

// Scheduled tasks (issue 17, item 6): a task is a cron schedule plus a definition (monitor, anomaly_detection,
// forecast); `next_run_at` is the next slot not yet handed to the job queue (NULL while paused). Advancing it
// with a compare-and-set in the transaction that enqueues the slot's job keeps several processes from
// enqueueing a slot twice; task_runs' unique (task_id, slot) keeps a slot from committing two results.
const statements = [
  `CREATE TABLE tasks (
     environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
     id uuid NOT NULL DEFAULT gen_random_uuid(),
     title text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
     kind text NOT NULL CHECK (kind IN ('monitor', 'anomaly_detection', 'forecast')),
     definition jsonb NOT NULL,
     schedule text NOT NULL CHECK (char_length(schedule) BETWEEN 1 AND 100),
     severity text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
     notify boolean NOT NULL DEFAULT false,
     paused boolean NOT NULL DEFAULT false,
     next_run_at timestamptz,
     version integer NOT NULL DEFAULT 1,
     created_by text NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now(),
     updated_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (environment_id, id),
     UNIQUE (id),
     CHECK (paused OR next_run_at IS NOT NULL)
   )`,
  `CREATE INDEX tasks_list_idx ON tasks (environment_id, created_at DESC, id DESC)`,
  `CREATE INDEX tasks_due_idx ON tasks (next_run_at) WHERE NOT paused`,

  `CREATE TABLE task_runs (
     environment_id uuid NOT NULL,
     task_id uuid NOT NULL,
     slot timestamptz NOT NULL,
     started_at timestamptz NOT NULL,
     duration_ms integer NOT NULL CHECK (duration_ms >= 0),
     outcome text NOT NULL CHECK (outcome IN ('finding', 'nothing', 'failed')),
     summary text NOT NULL CHECK (char_length(summary) <= 8000),
     error text CHECK (char_length(error) <= 2000),
     attempt integer NOT NULL CHECK (attempt >= 1),
     result jsonb NOT NULL DEFAULT '{}',
     discovery_id uuid,
     created_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (environment_id, task_id, slot),
     CONSTRAINT task_runs_one_per_slot UNIQUE (task_id, slot),
     FOREIGN KEY (environment_id, task_id) REFERENCES tasks (environment_id, id) ON DELETE CASCADE
   )`,
  `CREATE INDEX task_runs_recent_idx ON task_runs (task_id, slot DESC)`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL with table constraints, clearer as SQL than in the schema builder.
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL, the reverse of up().
  await sql`DROP TABLE IF EXISTS task_runs`.execute(db);
  await sql`DROP TABLE IF EXISTS tasks`.execute(db);
}
