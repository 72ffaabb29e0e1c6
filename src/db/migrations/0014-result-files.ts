import { sql, type Kysely } from 'kysely';

// Result files (src/lakehouse/results/store.ts): full query results written once under
// DATA_DIR/results/<environment>/<id>.<format>, by query tools' `export` (kind `export`) and by query jobs
// (kind `job`). A row is inserted (state `writing`, `bytes` = the most it may reach, reserved against the
// environment's quota) before its file is written, and becomes `ready` with its real size; the sweep removes
// expired rows and their files, and `writing` rows whose writer died.
const statements = [
  `CREATE TABLE result_files (
     id uuid PRIMARY KEY,
     environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
     kind text NOT NULL CHECK (kind IN ('export', 'job')),
     format text NOT NULL CHECK (format IN ('csv', 'parquet')),
     state text NOT NULL DEFAULT 'writing' CHECK (state IN ('writing', 'ready')),
     rows bigint NOT NULL DEFAULT 0 CHECK (rows >= 0),
     bytes bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
     created_at timestamptz NOT NULL DEFAULT now(),
     expires_at timestamptz NOT NULL,
     CHECK (expires_at > created_at)
   )`,
  `CREATE INDEX result_files_environment_idx ON result_files (environment_id, state)`,
  `CREATE INDEX result_files_expires_at_idx ON result_files (expires_at)`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL with checks, clearer as SQL than in the schema builder.
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL, the reverse of up().
  await sql`DROP TABLE IF EXISTS result_files`.execute(db);
}
