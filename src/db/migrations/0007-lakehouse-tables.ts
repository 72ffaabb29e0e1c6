import { sql, type Kysely } from 'kysely';

// The table layer of the DuckDB lakehouse (src/lakehouse/duckdb/table-store.ts): each environment table is a
// set of Parquet files under DATA_DIR, and which set is the table is recorded here, so a load lands whole or
// not at all and every server process sees the same version at once. `files` are paths relative to the
// lakehouse folder; `columns` the table's schema ([{name, type}]).
const statements = [
  `CREATE TABLE lakehouse_tables (
     environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
     name text NOT NULL CHECK (name ~ '^[a-z_][a-z0-9_]{0,62}$'),
     version integer NOT NULL CHECK (version >= 1),
     files jsonb NOT NULL CHECK (jsonb_typeof(files) = 'array'),
     columns jsonb NOT NULL CHECK (jsonb_typeof(columns) = 'array'),
     row_count bigint NOT NULL CHECK (row_count >= 0),
     committed_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (environment_id, name)
   )`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL; checks read more clearly as SQL than in the schema builder.
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL, the reverse of up().
  await sql`DROP TABLE IF EXISTS lakehouse_tables`.execute(db);
}
