import { sql, type Kysely } from 'kysely';

// Long queries as jobs (issue 18, item 3): one row per job, the same row serving the plain job tools and the
// MCP tasks extension's tasks/get. Everything a status or result needs is here (and in the result store), so
// any process answers for a job another process runs. A succeeded job's rows are a file of the result store
// (result_files, kind `job`: counted against the environment's quota, expiring as exports do), `result_id`.
// `cancel_requested_at` is the flag the running process watches; `expires_at` is set when the job ends.
const statements = [
  `CREATE TABLE query_jobs (
     environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
     id uuid NOT NULL DEFAULT gen_random_uuid(),
     subject text NOT NULL,
     client_id text NOT NULL,
     sql text NOT NULL CHECK (char_length(sql) <= 100000),
     connection text NOT NULL,
     timeout_ms integer NOT NULL CHECK (timeout_ms > 0),
     row_offset integer NOT NULL DEFAULT 0 CHECK (row_offset >= 0),
     row_limit integer NOT NULL CHECK (row_limit > 0),
     max_bytes integer NOT NULL CHECK (max_bytes > 0),
     as_task boolean NOT NULL DEFAULT false,
     state text NOT NULL DEFAULT 'queued'
       CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out')),
     rows_so_far bigint NOT NULL DEFAULT 0,
     attempts integer NOT NULL DEFAULT 0,
     cancel_requested_at timestamptz,
     created_at timestamptz NOT NULL DEFAULT now(),
     started_at timestamptz,
     finished_at timestamptz,
     error_code text,
     error text CHECK (char_length(error) <= 4000),
     result_id uuid,
     expires_at timestamptz,
     PRIMARY KEY (environment_id, id),
     UNIQUE (id),
     CHECK ((state IN ('queued', 'running')) = (finished_at IS NULL))
   )`,
  `CREATE INDEX query_jobs_active_idx ON query_jobs (environment_id) WHERE state IN ('queued', 'running')`,
  `CREATE INDEX query_jobs_expiry_idx ON query_jobs (expires_at) WHERE expires_at IS NOT NULL`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL with table constraints, clearer as SQL than in the schema builder.
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL, the reverse of up().
  await sql`DROP TABLE IF EXISTS query_jobs`.execute(db);
}
