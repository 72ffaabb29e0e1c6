import { sql, type Kysely } from 'kysely';

// Each environment's IANA time zone (src/time/time-zone.ts): relative time filters resolve in it and
// get_session_context tells the current time in it. The name is checked against the runtime's zone database
// when it is set (`admin env create --time-zone`, `admin env set`); the database only bounds its length.
export async function up(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL with a CHECK.
  await sql`ALTER TABLE environments ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC'
    CHECK (length(time_zone) BETWEEN 1 AND 64)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE environments DROP COLUMN IF EXISTS time_zone`.execute(db);
}
