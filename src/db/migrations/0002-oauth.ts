import { sql, type Kysely } from 'kysely';

// OAuth: clients, service accounts, grants, authorization codes, refresh tokens, signing keys and the
// rate-limit counters that must hold across server processes. Codes, refresh tokens and client secrets are
// high-entropy random values stored as their SHA-256 (bytea); a database dump does not let anyone use them.
const statements = [
  `CREATE TABLE oauth_clients (
     id text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 2048),
     name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
     redirect_uris text[] NOT NULL DEFAULT '{}',
     grant_types text[] NOT NULL CHECK (grant_types <@ ARRAY['authorization_code', 'refresh_token', 'client_credentials']),
     token_endpoint_auth_method text NOT NULL
       CHECK (token_endpoint_auth_method IN ('none', 'client_secret_basic', 'client_secret_post')),
     secret_hash bytea,
     scope text,
     -- true: a Client ID Metadata Document (client_id is its https URL), refreshed from the document on use.
     metadata_document boolean NOT NULL DEFAULT false,
     created_at timestamptz NOT NULL DEFAULT now(),
     CHECK ((token_endpoint_auth_method = 'none') = (secret_hash IS NULL))
   )`,
  `CREATE TABLE service_accounts (
     client_id text PRIMARY KEY REFERENCES oauth_clients (id) ON DELETE CASCADE,
     environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
     name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
     scopes text[] NOT NULL CHECK (scopes <@ ARRAY['read', 'write'] AND cardinality(scopes) > 0),
     created_at timestamptz NOT NULL DEFAULT now(),
     revoked_at timestamptz,
     UNIQUE (client_id, environment_id)
   )`,
  `CREATE UNIQUE INDEX service_accounts_active_name_key ON service_accounts (environment_id, name) WHERE revoked_at IS NULL`,
  // A grant: what one user (or service account) allowed one client in one environment. Tokens carry its id;
  // revoking it (revoked_at) stops them on every process (the verifiers poll revoked_at).
  `CREATE TABLE oauth_grants (
     id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
     client_id text NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
     environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
     user_id uuid REFERENCES users (id) ON DELETE CASCADE,
     service_account_id text,
     scopes text[] NOT NULL CHECK (scopes <@ ARRAY['read', 'write'] AND cardinality(scopes) > 0),
     created_at timestamptz NOT NULL DEFAULT now(),
     revoked_at timestamptz,
     revoked_reason text,
     CHECK ((user_id IS NULL) <> (service_account_id IS NULL)),
     -- A service account's grant is in the account's own environment.
     FOREIGN KEY (service_account_id, environment_id) REFERENCES service_accounts (client_id, environment_id) ON DELETE CASCADE
   )`,
  `CREATE INDEX oauth_grants_revoked_at_idx ON oauth_grants (revoked_at) WHERE revoked_at IS NOT NULL`,
  `CREATE INDEX oauth_grants_user_environment_idx ON oauth_grants (user_id, environment_id) WHERE user_id IS NOT NULL`,
  `CREATE INDEX oauth_grants_service_account_idx ON oauth_grants (service_account_id) WHERE service_account_id IS NOT NULL`,
  `CREATE TABLE oauth_authorization_codes (
     code_hash bytea PRIMARY KEY,
     client_id text NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
     redirect_uri text NOT NULL,
     code_challenge text NOT NULL,
     resource text,
     user_id uuid NOT NULL,
     environment_id uuid NOT NULL,
     scopes text[] NOT NULL CHECK (scopes <@ ARRAY['read', 'write'] AND cardinality(scopes) > 0),
     created_at timestamptz NOT NULL DEFAULT now(),
     expires_at timestamptz NOT NULL,
     consumed_at timestamptz,
     -- The grant its redemption created: a replayed code revokes it.
     grant_id uuid REFERENCES oauth_grants (id) ON DELETE SET NULL,
     CHECK (expires_at <= created_at + interval '10 minutes'),
     -- A code of someone who is no longer a member of the environment is gone.
     FOREIGN KEY (user_id, environment_id) REFERENCES memberships (user_id, environment_id) ON DELETE CASCADE
   )`,
  `CREATE INDEX oauth_authorization_codes_expires_at_idx ON oauth_authorization_codes (expires_at)`,
  `CREATE TABLE oauth_refresh_tokens (
     token_hash bytea PRIMARY KEY,
     grant_id uuid NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
     parent_hash bytea,
     scopes text[] NOT NULL CHECK (scopes <@ ARRAY['read', 'write'] AND cardinality(scopes) > 0),
     created_at timestamptz NOT NULL DEFAULT now(),
     expires_at timestamptz NOT NULL,
     used_at timestamptz
   )`,
  `CREATE INDEX oauth_refresh_tokens_grant_id_idx ON oauth_refresh_tokens (grant_id)`,
  `CREATE TABLE oauth_signing_keys (
     kid text PRIMARY KEY,
     alg text NOT NULL CHECK (alg IN ('ES256')),
     public_jwk jsonb NOT NULL,
     -- The private JWK sealed with AES-256-GCM under a key derived from SECRET_KEY (src/secret-key.ts), kid as associated data.
     private_jwk_encrypted text NOT NULL,
     created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
     retired_at timestamptz
   )`,
  // Fixed-window counters shared by every process: one upsert per hit.
  `CREATE TABLE rate_limit_counters (
     key text NOT NULL,
     window_start timestamptz NOT NULL,
     hits integer NOT NULL,
     PRIMARY KEY (key, window_start)
   )`,
  `CREATE INDEX rate_limit_counters_window_start_idx ON rate_limit_counters (window_start)`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL; checks, expression indexes and generated columns read more clearly as SQL than in the schema builder.
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL, the reverse of up().
  for (const table of [
    'rate_limit_counters',
    'oauth_signing_keys',
    'oauth_refresh_tokens',
    'oauth_authorization_codes',
    'oauth_grants',
    'service_accounts',
    'oauth_clients',
  ]) {
    await sql`DROP TABLE IF EXISTS ${sql.table(table)}`.execute(db);
  }
}
