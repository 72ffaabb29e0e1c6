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
  /** The authorization request the code answered (unique: a consent posted twice yields one code). */
  request_id: string | null;
}

/** Access tokens revoked one by one (RFC 7009 on a token without a grant of its own: a service account's). */
export interface OAuthRevokedAccessTokensTable {
  jti: string;
  client_id: string;
  expires_at: Date;
  revoked_at: DatabaseDefault<Date>;
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

export type Severity = 'info' | 'warning' | 'critical';

/** Saved assets (migration 0004): every row belongs to one environment; keys are (environment_id, id). */
export interface InsightsTable {
  environment_id: string;
  id: Generated<string>;
  title: string;
  description: Generated<string>;
  sql: string;
  connection: string;
  /** JSON array of { name, type, default?, description? }; pass through JSON.stringify (pg sends arrays as Postgres arrays). */
  parameters: ColumnType<JsonValue, string, string>;
  chart: JsonObject;
  version: Generated<number>;
  created_by: string;
  created_at: DatabaseDefault<Date>;
  updated_at: Generated<Date>;
  search: DatabaseDefault<string>;
}

export interface DashboardsTable {
  environment_id: string;
  id: Generated<string>;
  title: string;
  description: Generated<string>;
  variables: ColumnType<JsonValue, string, string>;
  version: Generated<number>;
  created_by: string;
  created_at: DatabaseDefault<Date>;
  updated_at: Generated<Date>;
}

export interface DashboardWidgetsTable {
  environment_id: string;
  dashboard_id: string;
  position: number;
  insight_id: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface NotificationsTable {
  environment_id: string;
  id: Generated<string>;
  title: string;
  body: string;
  severity: Severity;
  link: string | null;
  created_by: string;
  created_at: Generated<Date>;
}

export type DiscoveryStatus = 'pending' | 'approved' | 'rejected';

export interface DiscoveriesTable {
  environment_id: string;
  id: Generated<string>;
  title: string;
  summary: string;
  severity: Severity;
  sql: string | null;
  insight_id: string | null;
  status: Generated<DiscoveryStatus>;
  decided_by: string | null;
  decided_at: Date | null;
  decision_note: string | null;
  notification_id: string | null;
  version: Generated<number>;
  created_by: string;
  created_at: DatabaseDefault<Date>;
  updated_at: Generated<Date>;
}

export type MemoryType = 'episodic' | 'semantic' | 'procedural';

export interface MemoriesTable {
  environment_id: string;
  id: Generated<string>;
  content: string;
  type: MemoryType;
  importance: number;
  tags: string[];
  source: string | null;
  created_by: string;
  created_at: Generated<Date>;
  search: DatabaseDefault<string>;
}

export interface WebhooksTable {
  environment_id: string;
  id: Generated<string>;
  url: string;
  /** The `whsec_` secret sealed with SECRET_KEY (src/webhooks/secrets.ts). */
  sealed_secret: string;
  created_at: DatabaseDefault<Date>;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'dead';

export interface WebhookDeliveriesTable {
  /** The Standard Webhooks message id (`msg_…`), the same on every attempt. */
  id: string;
  environment_id: string;
  webhook_id: string;
  notification_id: string;
  /** The exact JSON body that is signed and sent. */
  payload: string;
  status: Generated<DeliveryStatus>;
  attempts: Generated<number>;
  next_attempt_at: Generated<Date>;
  /** The lease of the worker attempt that holds the row (null when none does). */
  claim: string | null;
  last_status: number | null;
  last_error: string | null;
  created_at: DatabaseDefault<Date>;
  updated_at: Generated<Date>;
}

export interface IdempotencyKeysTable {
  environment_id: string;
  tool: string;
  key: string;
  request_hash: Buffer;
  /** The first answer, as JSON text on the way in (JSON.stringify). */
  result: ColumnType<JsonValue | null, string | null, string>;
  created_at: Generated<Date>;
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
  insights: InsightsTable;
  dashboards: DashboardsTable;
  dashboard_widgets: DashboardWidgetsTable;
  notifications: NotificationsTable;
  discoveries: DiscoveriesTable;
  memories: MemoriesTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  idempotency_keys: IdempotencyKeysTable;
  oauth_clients: OAuthClientsTable;
  service_accounts: ServiceAccountsTable;
  oauth_grants: OAuthGrantsTable;
  oauth_authorization_codes: OAuthAuthorizationCodesTable;
  oauth_refresh_tokens: OAuthRefreshTokensTable;
  oauth_revoked_access_tokens: OAuthRevokedAccessTokensTable;
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
