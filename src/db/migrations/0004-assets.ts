import { sql, type Kysely } from 'kysely';

// Saved assets (insights, dashboards, discoveries, memories, notifications), webhooks with their delivery
// outbox, and idempotency keys. Every table leads with environment_id and every key and foreign key includes
// it, so that no row can point at another environment's row, whatever the application code does.
const SEVERITY = `CHECK (severity IN ('info', 'warning', 'critical'))`;

const statements = [
  `CREATE TABLE insights (
     environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
     id uuid NOT NULL DEFAULT gen_random_uuid(),
     title text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
     description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 4000),
     sql text NOT NULL CHECK (char_length(sql) BETWEEN 1 AND 100000),
     connection text NOT NULL,
     parameters jsonb NOT NULL DEFAULT '[]',
     chart jsonb NOT NULL,
     version integer NOT NULL DEFAULT 1,
     created_by text NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now(),
     updated_at timestamptz NOT NULL DEFAULT now(),
     search tsvector GENERATED ALWAYS AS (
       setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', description), 'B')
     ) STORED,
     PRIMARY KEY (environment_id, id)
   )`,
  `CREATE INDEX insights_list_idx ON insights (environment_id, created_at DESC, id DESC)`,
  `CREATE INDEX insights_search_idx ON insights USING gin (search)`,

  `CREATE TABLE dashboards (
     environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
     id uuid NOT NULL DEFAULT gen_random_uuid(),
     title text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
     description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 4000),
     variables jsonb NOT NULL DEFAULT '[]',
     version integer NOT NULL DEFAULT 1,
     created_by text NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now(),
     updated_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (environment_id, id)
   )`,
  `CREATE INDEX dashboards_list_idx ON dashboards (environment_id, created_at DESC, id DESC)`,
  // A widget shows an insight of the dashboard's own environment: both foreign keys carry environment_id.
  `CREATE TABLE dashboard_widgets (
     environment_id uuid NOT NULL,
     dashboard_id uuid NOT NULL,
     position integer NOT NULL CHECK (position >= 0),
     insight_id uuid NOT NULL,
     x integer NOT NULL CHECK (x >= 0),
     y integer NOT NULL CHECK (y >= 0),
     w integer NOT NULL CHECK (w >= 1),
     h integer NOT NULL CHECK (h >= 1),
     PRIMARY KEY (environment_id, dashboard_id, position),
     FOREIGN KEY (environment_id, dashboard_id) REFERENCES dashboards (environment_id, id) ON DELETE CASCADE,
     FOREIGN KEY (environment_id, insight_id) REFERENCES insights (environment_id, id)
   )`,
  `CREATE INDEX dashboard_widgets_insight_idx ON dashboard_widgets (environment_id, insight_id)`,

  `CREATE TABLE notifications (
     environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
     id uuid NOT NULL DEFAULT gen_random_uuid(),
     title text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
     body text NOT NULL CHECK (char_length(body) <= 8000),
     severity text NOT NULL ${SEVERITY},
     link text,
     created_by text NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (environment_id, id)
   )`,
  `CREATE INDEX notifications_list_idx ON notifications (environment_id, created_at DESC, id DESC)`,

  `CREATE TABLE discoveries (
     environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
     id uuid NOT NULL DEFAULT gen_random_uuid(),
     title text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
     summary text NOT NULL CHECK (char_length(summary) BETWEEN 1 AND 8000),
     severity text NOT NULL ${SEVERITY},
     sql text CHECK (char_length(sql) <= 100000),
     insight_id uuid,
     status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
     decided_by text,
     decided_at timestamptz,
     decision_note text,
     notification_id uuid,
     version integer NOT NULL DEFAULT 1,
     created_by text NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now(),
     updated_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (environment_id, id),
     FOREIGN KEY (environment_id, insight_id) REFERENCES insights (environment_id, id),
     FOREIGN KEY (environment_id, notification_id) REFERENCES notifications (environment_id, id) ON DELETE SET NULL (notification_id)
   )`,
  `CREATE INDEX discoveries_list_idx ON discoveries (environment_id, created_at DESC, id DESC)`,
  `CREATE INDEX discoveries_insight_idx ON discoveries (environment_id, insight_id) WHERE insight_id IS NOT NULL`,

  // array_to_string is only STABLE (it could depend on settings for other element types); for text[] it is
  // immutable, which a generated column needs.
  `CREATE FUNCTION memory_tags_text(tags text[]) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
     RETURN array_to_string(tags, ' ')`,
  `CREATE TABLE memories (
     environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
     id uuid NOT NULL DEFAULT gen_random_uuid(),
     content text NOT NULL CHECK (octet_length(content) BETWEEN 1 AND 8192),
     type text NOT NULL CHECK (type IN ('episodic', 'semantic', 'procedural')),
     importance real NOT NULL CHECK (importance >= 0 AND importance <= 1),
     tags text[] NOT NULL DEFAULT '{}',
     source text,
     created_by text NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now(),
     search tsvector GENERATED ALWAYS AS (
       setweight(to_tsvector('english', memory_tags_text(tags)), 'A') || setweight(to_tsvector('english', content), 'B')
     ) STORED,
     PRIMARY KEY (environment_id, id)
   )`,
  `CREATE INDEX memories_search_idx ON memories USING gin (search)`,
  `CREATE INDEX memories_tags_idx ON memories USING gin (tags)`,

  // Webhook secrets are sealed with SECRET_KEY (AES-256-GCM, bound to the webhook's id).
  `CREATE TABLE webhooks (
     environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
     id uuid NOT NULL DEFAULT gen_random_uuid(),
     url text NOT NULL,
     sealed_secret text NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (environment_id, id)
   )`,
  // The outbox: one row per (notification, webhook), written in the notification's transaction.
  // `id` is the Standard Webhooks message id (header webhook-id): the same on every attempt.
  `CREATE TABLE webhook_deliveries (
     id text PRIMARY KEY,
     environment_id uuid NOT NULL,
     webhook_id uuid NOT NULL,
     notification_id uuid NOT NULL,
     payload text NOT NULL,
     status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
     attempts integer NOT NULL DEFAULT 0,
     next_attempt_at timestamptz NOT NULL DEFAULT now(),
     claim uuid,
     last_status integer,
     last_error text,
     created_at timestamptz NOT NULL DEFAULT now(),
     updated_at timestamptz NOT NULL DEFAULT now(),
     FOREIGN KEY (environment_id, webhook_id) REFERENCES webhooks (environment_id, id) ON DELETE CASCADE,
     FOREIGN KEY (environment_id, notification_id) REFERENCES notifications (environment_id, id) ON DELETE CASCADE
   )`,
  `CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending'`,
  `CREATE INDEX webhook_deliveries_done_idx ON webhook_deliveries (updated_at) WHERE status <> 'pending'`,
  `CREATE INDEX webhook_deliveries_notification_idx ON webhook_deliveries (environment_id, notification_id)`,

  // A create tool's first answer per key; a retry with the same key and payload gets it back.
  `CREATE TABLE idempotency_keys (
     environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
     tool text NOT NULL,
     key text NOT NULL,
     request_hash bytea NOT NULL,
     result jsonb,
     created_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (environment_id, tool, key)
   )`,
  `CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at)`,
];

const TABLES = [
  'idempotency_keys',
  'webhook_deliveries',
  'webhooks',
  'memories',
  'discoveries',
  'notifications',
  'dashboard_widgets',
  'dashboards',
  'insights',
];

export async function up(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL; checks, expression indexes and generated columns read more clearly as SQL than in the schema builder.
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL, the reverse of up().
  for (const table of TABLES) await sql`DROP TABLE IF EXISTS ${sql.table(table)}`.execute(db);
  await sql`DROP FUNCTION IF EXISTS memory_tags_text(text[])`.execute(db);
}
