import { sql, type Kysely } from 'kysely';

// The upgrade from the PostgreSQL lakehouse (src/lakehouse/upgrade.ts): one row per table an environment had
// in its schema `env_<id>`, recording its copy into the Parquet layout (lakehouse_tables). `status`: `copied`
// (the Parquet file is written and matched the source, its commit not yet confirmed), `verified` (committed:
// equal row counts and checksums; never copied again), `failed` (`error` says why; retried at the next start).
// `file` is the Parquet file this copy wrote (relative to the lakehouse folder): a table of lakehouse_tables is
// this copy's to replace only while that file is its only one. `checksums`: [{column, type, non_null, hash_sum}].
const statements = [
  `CREATE TABLE lakehouse_legacy_tables (
     environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
     schema_name text NOT NULL,
     table_name text NOT NULL,
     status text NOT NULL CHECK (status IN ('copied', 'verified', 'failed')),
     rows bigint CHECK (rows >= 0),
     checksums jsonb CHECK (jsonb_typeof(checksums) = 'array'),
     row_checksum text,
     file text,
     error text,
     started_at timestamptz NOT NULL DEFAULT now(),
     updated_at timestamptz NOT NULL DEFAULT now(),
     verified_at timestamptz,
     PRIMARY KEY (environment_id, table_name),
     CHECK (status <> 'verified' OR (rows IS NOT NULL AND checksums IS NOT NULL AND verified_at IS NOT NULL))
   )`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL; checks read more clearly as SQL than in the schema builder.
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL, the reverse of up().
  await sql`DROP TABLE IF EXISTS lakehouse_legacy_tables`.execute(db);
}
