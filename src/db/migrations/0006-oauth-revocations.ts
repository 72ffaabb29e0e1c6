import { sql, type Kysely } from 'kysely';

// Single-use state the OAuth endpoints need beyond grants:
//  - oauth_revoked_access_tokens: access tokens revoked one by one (RFC 7009 on an access token that has no
//    grant of its own to revoke: a service account's). Every process's verifier polls revoked_at, as it
//    polls oauth_grants.revoked_at. No foreign key: a deleted client's revoked token must stay refused
//    until it expires; rows are pruned once their token has expired.
//  - oauth_authorization_codes.request_id: the authorization request a code answered, unique, so that a
//    consent form posted twice cannot yield a second code.
const statements = [
  `CREATE TABLE oauth_revoked_access_tokens (
     jti text PRIMARY KEY CHECK (length(jti) BETWEEN 1 AND 200),
     client_id text NOT NULL,
     expires_at timestamptz NOT NULL,
     revoked_at timestamptz NOT NULL DEFAULT clock_timestamp()
   )`,
  `CREATE INDEX oauth_revoked_access_tokens_revoked_at_idx ON oauth_revoked_access_tokens (revoked_at)`,
  `CREATE INDEX oauth_revoked_access_tokens_expires_at_idx ON oauth_revoked_access_tokens (expires_at)`,
  `ALTER TABLE oauth_authorization_codes ADD COLUMN request_id text CHECK (length(request_id) BETWEEN 1 AND 100)`,
  `CREATE UNIQUE INDEX oauth_authorization_codes_request_id_key ON oauth_authorization_codes (request_id)`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL; checks, expression indexes and generated columns read more clearly as SQL than in the schema builder.
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL, the reverse of up().
  await sql`DROP INDEX IF EXISTS oauth_authorization_codes_request_id_key`.execute(db);
  await sql`ALTER TABLE oauth_authorization_codes DROP COLUMN IF EXISTS request_id`.execute(db);
  await sql`DROP TABLE IF EXISTS oauth_revoked_access_tokens`.execute(db);
}
