import { sql, type Kysely } from 'kysely';

// Browser sessions of the sign-in pages and account pages (src/oauth/browser-session.ts), and when each grant
// was last used (the connected-apps page, src/oauth/connected-apps.ts).
//  - browser_sessions: one row per signed-in browser. Only the SHA-256 of the session id is stored (a database
//    dump does not sign anyone in). A session lasts at most 12 h (expires_at) and ends after 1 h without a
//    request (last_seen_at); every process reads this table on each page request, so sign-out, a removed
//    membership or a deleted user ends the session everywhere at once.
//  - oauth_grants.last_used_at: set when the grant is created and whenever a refresh token is issued for it
//    (by a trigger, so the one-statement refresh grant of migration 0005 is unchanged): the last time the
//    client came for tokens, not every request it made.
const statements = [
  `CREATE TABLE browser_sessions (
     id_hash bytea PRIMARY KEY,
     user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
     created_at timestamptz NOT NULL DEFAULT now(),
     last_seen_at timestamptz NOT NULL DEFAULT now(),
     expires_at timestamptz NOT NULL,
     CHECK (expires_at <= created_at + interval '12 hours')
   )`,
  `CREATE INDEX browser_sessions_user_id_idx ON browser_sessions (user_id)`,
  `CREATE INDEX browser_sessions_expires_at_idx ON browser_sessions (expires_at)`,
  `ALTER TABLE oauth_grants ADD COLUMN last_used_at timestamptz NOT NULL DEFAULT now()`,
  `CREATE FUNCTION oauth_grant_touch() RETURNS trigger LANGUAGE plpgsql AS $fn$
   BEGIN
     UPDATE oauth_grants SET last_used_at = NEW.created_at WHERE id = NEW.grant_id AND last_used_at < NEW.created_at;
     RETURN NULL;
   END
   $fn$`,
  `CREATE TRIGGER oauth_refresh_tokens_touch_grant AFTER INSERT ON oauth_refresh_tokens
     FOR EACH ROW EXECUTE FUNCTION oauth_grant_touch()`,
  `CREATE INDEX oauth_grants_environment_client_idx ON oauth_grants (environment_id, client_id) WHERE revoked_at IS NULL`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL; a trigger and checks read more clearly as SQL than in the schema builder.
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL, the reverse of up().
  await sql`DROP TRIGGER IF EXISTS oauth_refresh_tokens_touch_grant ON oauth_refresh_tokens`.execute(db);
  await sql`DROP FUNCTION IF EXISTS oauth_grant_touch()`.execute(db);
  await sql`DROP INDEX IF EXISTS oauth_grants_environment_client_idx`.execute(db);
  await sql`ALTER TABLE oauth_grants DROP COLUMN IF EXISTS last_used_at`.execute(db);
  await sql`DROP TABLE IF EXISTS browser_sessions`.execute(db);
}
