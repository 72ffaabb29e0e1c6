import { sql, type Kysely } from 'kysely';

// Plain SQL: checks, expression indexes and generated columns read more clearly than in the schema builder.
// Kysely runs each migration in one transaction, so a failure leaves nothing behind.
const SLUG = `'^[a-z0-9][a-z0-9-]{0,62}$'`;

const statements = [
  `CREATE TABLE organizations (
     id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
     name text NOT NULL UNIQUE CHECK (name ~ ${SLUG}),
     created_at timestamptz NOT NULL DEFAULT now()
   )`,
  `CREATE TABLE environments (
     id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
     organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
     name text NOT NULL CHECK (name ~ ${SLUG}),
     created_at timestamptz NOT NULL DEFAULT now(),
     UNIQUE (organization_id, name)
   )`,
  `CREATE TABLE users (
     id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
     email text NOT NULL,
     password_hash text NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now()
   )`,
  `CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email))`,
  `CREATE TABLE memberships (
     user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
     environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
     role text NOT NULL CHECK (role IN ('reader', 'writer', 'admin')),
     created_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (user_id, environment_id)
   )`,
  // The primary key leads with user_id; lookups by environment (members of an environment) need their own.
  `CREATE INDEX memberships_environment_id_idx ON memberships (environment_id)`,
  `CREATE TABLE audit_log (
     id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     at timestamptz NOT NULL DEFAULT now(),
     organization_id uuid,
     environment_id uuid,
     actor text NOT NULL,
     client_id text,
     operation text NOT NULL,
     outcome text NOT NULL,
     duration_ms integer NOT NULL,
     sql text,
     detail jsonb
   )`,
  // No foreign keys on audit_log: the trail must outlive deleted environments.
  `CREATE INDEX audit_log_environment_id_at_idx ON audit_log (environment_id, at)`,
  `CREATE TABLE docs (
     slug text PRIMARY KEY,
     title text NOT NULL,
     body text NOT NULL,
     content_hash text NOT NULL,
     search tsvector GENERATED ALWAYS AS (
       setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', body), 'B')
     ) STORED,
     updated_at timestamptz NOT NULL DEFAULT now()
   )`,
  `CREATE INDEX docs_search_idx ON docs USING gin (search)`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL; checks, expression indexes and generated columns read more clearly as SQL than in the schema builder.
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL, the reverse of up().
  for (const table of ['docs', 'audit_log', 'memberships', 'users', 'environments', 'organizations']) {
    await sql`DROP TABLE IF EXISTS ${sql.table(table)}`.execute(db);
  }
}
