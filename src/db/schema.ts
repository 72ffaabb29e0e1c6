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

export interface Database {
  organizations: OrganizationsTable;
  environments: EnvironmentsTable;
  users: UsersTable;
  memberships: MembershipsTable;
  audit_log: AuditLogTable;
  docs: DocsTable;
}

export type Organization = Selectable<OrganizationsTable>;
export type Environment = Selectable<EnvironmentsTable>;
export type User = Selectable<UsersTable>;
export type Membership = Selectable<MembershipsTable>;
export type AuditLogEntry = Selectable<AuditLogTable>;
export type NewAuditLogEntry = Insertable<AuditLogTable>;
export type Doc = Selectable<DocsTable>;
