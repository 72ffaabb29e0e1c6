import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** Set by the database on insert, never written by us. */
type DatabaseDefault<T> = ColumnType<T, never, never>;

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** Objects only: pg serializes an object to JSON but a JS array to a Postgres array. */
export type JsonObject = { [key: string]: JsonValue };

export interface OrganizationsTable {
  id: Generated<string>;
  /** Slug: ^[a-z0-9][a-z0-9-]{0,62}$ */
  name: string;
  created_at: DatabaseDefault<Date>;
}

export interface EnvironmentsTable {
  id: Generated<string>;
  organization_id: string;
  name: string;
  created_at: DatabaseDefault<Date>;
}

export interface UsersTable {
  id: Generated<string>;
  /** Stored as entered; unique case-insensitively (index on lower(email)). */
  email: string;
  /** argon2id PHC string. */
  password_hash: string;
  created_at: DatabaseDefault<Date>;
}

export type Role = 'reader' | 'writer' | 'admin';

export interface MembershipsTable {
  user_id: string;
  environment_id: string;
  role: Role;
  created_at: DatabaseDefault<Date>;
}

export interface AuditLogTable {
  /** bigint identity; parsed to a number (see createDb). */
  id: Generated<number>;
  at: Generated<Date>;
  organization_id: string | null;
  environment_id: string | null;
  actor: string;
  client_id: string | null;
  operation: string;
  outcome: string;
  duration_ms: number;
  sql: string | null;
  detail: JsonObject | null;
}

export interface DocsTable {
  slug: string;
  title: string;
  body: string;
  content_hash: string;
  /** Generated tsvector (title weighted A, body B); read it only through SQL functions. */
  search: DatabaseDefault<string>;
  updated_at: Generated<Date>;
}

export type GrantType = 'authorization_code' | 'refresh_token' | 'client_credentials';
export type TokenEndpointAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post';

export interface OAuthClientsTable {
  id: string;
  name: string;
  redirect_uris: string[];
  grant_types: GrantType[];
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  /** SHA-256 of the client secret; null for public clients. */
  secret_hash: Buffer | null;
  /** Registered scope (space-separated), or null for "whatever the user grants". */
  scope: string | null;
  metadata_document: Generated<boolean>;
  created_at: DatabaseDefault<Date>;
}

export interface ServiceAccountsTable {
  client_id: string;
  environment_id: string;
  name: string;
  scopes: string[];
  created_at: DatabaseDefault<Date>;
  revoked_at: Date | null;
}

export interface OAuthGrantsTable {
  id: Generated<string>;
  client_id: string;
  environment_id: string;
  user_id: string | null;
  service_account_id: string | null;
  scopes: string[];
  created_at: DatabaseDefault<Date>;
  revoked_at: Date | null;
  revoked_reason: string | null;
}

export interface OAuthAuthorizationCodesTable {
  code_hash: Buffer;
  client_id: string;
  redirect_uri: string;
  code_challenge: string;
  resource: string | null;
  user_id: string;
  environment_id: string;
  scopes: string[];
  created_at: DatabaseDefault<Date>;
  expires_at: Date;
  consumed_at: Date | null;
  grant_id: string | null;
}

export interface OAuthRefreshTokensTable {
  token_hash: Buffer;
  grant_id: string;
  parent_hash: Buffer | null;
  scopes: string[];
  created_at: DatabaseDefault<Date>;
  expires_at: Date;
  used_at: Date | null;
}

export interface OAuthSigningKeysTable {
  kid: string;
  alg: 'ES256';
  public_jwk: JsonObject;
  private_jwk_encrypted: string;
  created_at: DatabaseDefault<Date>;
  retired_at: Date | null;
}

export interface RateLimitCountersTable {
  key: string;
  window_start: Date;
  hits: number;
}

export interface LakehouseInstallTable {
  database_name: string;
  /** 10 lowercase letters/digits; part of every sandbox role name of this database. */
  install_id: string;
  created_at: DatabaseDefault<Date>;
}

export interface LakehouseSampleTable {
  version: number;
  /** The last day of the sample data's 90 days. */
  anchor: string;
  row_counts: JsonObject;
  duration_ms: number;
  generated_at: DatabaseDefault<Date>;
}

export interface ConnectionsTable {
  id: Generated<string>;
  environment_id: string;
  name: string;
  kind: 'postgres';
  /** The connection URL sealed with SECRET_KEY (AES-256-GCM, bound to the environment and name). */
  sealed_url: string;
  /** The URL without its password, for display. */
  display_url: string;
  created_at: DatabaseDefault<Date>;
}

export interface SemanticModelsTable {
  id: Generated<string>;
  environment_id: string;
  name: string;
  /** A document of specs/schemas/semantic-model.yaml. */
  definition: JsonObject;
  version: Generated<number>;
  created_at: DatabaseDefault<Date>;
  updated_at: Generated<Date>;
}

export interface Database {
  organizations: OrganizationsTable;
  environments: EnvironmentsTable;
  users: UsersTable;
  memberships: MembershipsTable;
  audit_log: AuditLogTable;
  docs: DocsTable;
  lakehouse_install: LakehouseInstallTable;
  lakehouse_sample: LakehouseSampleTable;
  connections: ConnectionsTable;
  semantic_models: SemanticModelsTable;
  oauth_clients: OAuthClientsTable;
  service_accounts: ServiceAccountsTable;
  oauth_grants: OAuthGrantsTable;
  oauth_authorization_codes: OAuthAuthorizationCodesTable;
  oauth_refresh_tokens: OAuthRefreshTokensTable;
  oauth_signing_keys: OAuthSigningKeysTable;
  rate_limit_counters: RateLimitCountersTable;
}

export type Organization = Selectable<OrganizationsTable>;
export type Environment = Selectable<EnvironmentsTable>;
export type User = Selectable<UsersTable>;
export type Membership = Selectable<MembershipsTable>;
export type AuditLogEntry = Selectable<AuditLogTable>;
export type NewAuditLogEntry = Insertable<AuditLogTable>;
export type Doc = Selectable<DocsTable>;
export type OAuthClient = Selectable<OAuthClientsTable>;
export type ServiceAccount = Selectable<ServiceAccountsTable>;
export type OAuthGrant = Selectable<OAuthGrantsTable>;
