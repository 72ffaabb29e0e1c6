import { sql, type Kysely } from 'kysely';

// delete_insight is a soft delete: dashboard widgets and discoveries keep pointing at the insight (their
// foreign keys stay valid), and view_dashboard marks such a widget `insight_deleted` instead of failing.
// Every other read treats a row with deleted_at as absent. Dashboards, memories and discoveries are
// deleted for real (nothing refers to them that must survive).
const statements = [
  `ALTER TABLE insights ADD COLUMN deleted_at timestamptz`,
  // Lists skip tombstones: the list index holds live insights only.
  `DROP INDEX insights_list_idx`,
  `CREATE INDEX insights_list_idx ON insights (environment_id, created_at DESC, id DESC) WHERE deleted_at IS NULL`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL.
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL, the reverse of up(). Tombstones come back as live insights.
  await sql`DROP INDEX insights_list_idx`.execute(db);
  await sql`CREATE INDEX insights_list_idx ON insights (environment_id, created_at DESC, id DESC)`.execute(db);
  await sql`ALTER TABLE insights DROP COLUMN deleted_at`.execute(db);
}
