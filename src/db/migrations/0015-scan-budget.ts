import { sql, type Kysely } from 'kysely';

// Each environment's scan budget (src/lakehouse/scan-budget.ts): the most rows, and bytes, one statement's plan
// may be estimated to scan before it is refused. NULL is unlimited (the default); `admin env set
// <org>/<env> --scan-budget …` sets them.
export async function up(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL with CHECKs.
  await sql`ALTER TABLE environments
    ADD COLUMN scan_budget_rows bigint CHECK (scan_budget_rows > 0),
    ADD COLUMN scan_budget_bytes bigint CHECK (scan_budget_bytes > 0)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE environments DROP COLUMN IF EXISTS scan_budget_rows, DROP COLUMN IF EXISTS scan_budget_bytes`.execute(db);
}
