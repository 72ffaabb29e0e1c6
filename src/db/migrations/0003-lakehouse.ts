import { sql, type Kysely } from 'kysely';

// The lakehouse's metadata: which install this database is (sandbox role names), the sample data's
// generation, external connections (credentials sealed with SECRET_KEY) and semantic models.
// The data itself lives in other schemas (`sample`, `env_<id>`), created by src/lakehouse/.
const statements = [
  // One row per database name: a database cloned from another (CREATE DATABASE … TEMPLATE) finds no row
  // for its own name and draws a fresh install id, so its sandbox roles never collide with the original's.
  `CREATE TABLE lakehouse_install (
     database_name text PRIMARY KEY,
     install_id text NOT NULL CHECK (install_id ~ '^[a-z0-9]{10}$'),
     created_at timestamptz NOT NULL DEFAULT now()
   )`,
  `CREATE TABLE lakehouse_sample (
     version integer PRIMARY KEY,
     anchor date NOT NULL,
     row_counts jsonb NOT NULL,
     duration_ms integer NOT NULL,
     generated_at timestamptz NOT NULL DEFAULT now()
   )`,
  `CREATE TABLE connections (
     id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
     environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
     name text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$' AND name NOT IN ('lakehouse', 'sample')),
     kind text NOT NULL CHECK (kind IN ('postgres')),
     sealed_url text NOT NULL,
     display_url text NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now(),
     UNIQUE (environment_id, name)
   )`,
  `CREATE TABLE semantic_models (
     id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
     environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
     name text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
     definition jsonb NOT NULL,
     version integer NOT NULL DEFAULT 1,
     created_at timestamptz NOT NULL DEFAULT now(),
     updated_at timestamptz NOT NULL DEFAULT now(),
     UNIQUE (environment_id, name)
   )`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL; checks, expression indexes and generated columns read more clearly as SQL than in the schema builder.
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL, the reverse of up().
  for (const table of ['semantic_models', 'connections', 'lakehouse_sample', 'lakehouse_install']) {
    await sql`DROP TABLE IF EXISTS ${sql.table(table)}`.execute(db);
  }
}
