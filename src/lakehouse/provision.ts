import crypto from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { deriveKey } from '../secret-key.js';
import { quoteIdent, quoteLiteral } from './sql-quote.js';

// Each environment's sandbox (docs/sql-sandbox.md): its own schema `env_<id>` for its data, and its own LOGIN role
// that owns nothing, is a member of nothing, and may only SELECT from that schema and from `sample`.
// Everything here is idempotent: createEnvironment runs it once, `admin env repair` and the first query of
// an environment in each process run it again to put back whatever drifted.

export const SAMPLE_SCHEMA = 'sample';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function hex(environmentId: string): string {
  if (!UUID.test(environmentId)) throw new Error(`not an environment id: ${environmentId}`);
  return environmentId.replace(/-/g, '');
}

/** The schema holding an environment's own tables (the `lakehouse` connection). */
export function environmentSchema(environmentId: string): string {
  return `env_${hex(environmentId)}`;
}

/**
 * Roles are cluster-wide while environments are per database: the name carries this database's install
 * id, so that databases on one cluster (test runs, cloned templates, two deployments) never share a role.
 */
export function sandboxRoleName(installId: string, environmentId: string): string {
  return `lh_${installId}_${hex(environmentId)}`;
}

/** The role's password, derived rather than stored: every process of a deployment computes the same one. */
export function sandboxRolePassword(secret: Buffer, roleName: string): string {
  return crypto.createHmac('sha256', deriveKey(secret, 'sandbox-role')).update(roleName).digest('base64url');
}

/** This database's install id, drawn on first use (see migration 0003). */
export async function installId(db: Kysely<Database>): Promise<string> {
  const fresh = crypto.randomBytes(8).readBigUInt64BE().toString(36).padStart(10, '0').slice(-10);
  await db
    .insertInto('lakehouse_install')
    .values((eb) => ({ database_name: eb.fn<string>('current_database'), install_id: fresh }))
    .onConflict((oc) => oc.column('database_name').doNothing())
    .execute();
  const row = await db
    .selectFrom('lakehouse_install')
    .select('install_id')
    .where((eb) => eb('database_name', '=', eb.fn<string>('current_database')))
    .executeTakeFirst();
  if (!row) throw new Error('lakehouse_install has no row for this database');
  return row.install_id;
}

const ident = (name: string) => sql.id(name);

/**
 * Takes from PUBLIC what PostgreSQL grants it by default in the application database: connecting (granted
 * back to each sandbox role), temporary tables, and the `public` schema where the metadata (users, tokens,
 * keys) lives. Where the application's user lacks the right (an external DATABASE_URL it does not own),
 * PostgreSQL only warns; the sandbox roles still get no grant on any metadata table.
 */
export async function hardenDatabase(db: Kysely<Database>): Promise<void> {
  await sql
    .raw(
      `DO $$ BEGIN
         EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
         REVOKE ALL ON SCHEMA public FROM PUBLIC;
         REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
         REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC;
       EXCEPTION WHEN insufficient_privilege THEN
         RAISE WARNING 'lakehouse: cannot revoke default privileges from PUBLIC: %', SQLERRM;
       END $$`,
    )
    .execute(db);
}

const PROVISION_LOCK = 'lakehouse-mcp provision environment';

export interface ProvisionOptions {
  /** Set the role's login password (the sandbox does, with sandboxRolePassword). */
  password?: string;
}

export interface ProvisionedSandbox {
  schema: string;
  role: string;
}

/**
 * Creates or repairs an environment's schema and role. Runs in the caller's transaction when given one
 * (createEnvironment), so a failed provisioning leaves no environment behind.
 */
export async function provisionEnvironment(
  db: Kysely<Database>,
  environmentId: string,
  options: ProvisionOptions = {},
): Promise<ProvisionedSandbox> {
  if (!db.isTransaction) return db.transaction().execute((trx) => provisionEnvironment(trx, environmentId, options));
  // Every environment's GRANTs update the same catalog rows (the database's, the sample schema's): two at once,
  // from first queries in two new environments or two processes, fail with "tuple concurrently updated".
  await sql`SELECT pg_advisory_xact_lock(hashtext(${PROVISION_LOCK}))`.execute(db);
  const schema = environmentSchema(environmentId);
  const role = sandboxRoleName(await installId(db), environmentId);
  const exists = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_roles WHERE rolname = ${role}`.execute(db);
  if (!exists.rows[0]?.n) {
    try {
      await sql`CREATE ROLE ${ident(role)} NOLOGIN`.execute(db);
    } catch (error) {
      if ((error as { code?: string }).code !== '42710') throw error; // created meanwhile by another process
    }
  }
  // Attributes are set every time: a repair puts back whatever someone changed.
  await sql`ALTER ROLE ${ident(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT CONNECTION LIMIT 32`.execute(
    db,
  );
  if (options.password !== undefined) {
    await sql.raw(`ALTER ROLE ${quoteIdent(role)} PASSWORD ${quoteLiteral(options.password)}`).execute(db);
  }
  // A member of nothing.
  const memberOf = await sql<{ name: string }>`
    SELECT r.rolname AS name FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
    WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = ${role})`.execute(db);
  for (const { name } of memberOf.rows) await sql`REVOKE ${ident(name)} FROM ${ident(role)}`.execute(db);
  // Role-level settings (ALTER ROLE … SET) could loosen the sandbox's own; there must be none.
  await sql`ALTER ROLE ${ident(role)} RESET ALL`.execute(db);

  await sql`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`.execute(db);
  await sql.raw(`GRANT CONNECT ON DATABASE ${quoteIdent(await currentDatabase(db))} TO ${quoteIdent(role)}`).execute(db);
  await sql`GRANT USAGE ON SCHEMA ${ident(schema)} TO ${ident(role)}`.execute(db);
  await sql`GRANT SELECT ON ALL TABLES IN SCHEMA ${ident(schema)} TO ${ident(role)}`.execute(db);
  // Tables the application creates later (loads) are readable at once.
  await sql`ALTER DEFAULT PRIVILEGES IN SCHEMA ${ident(schema)} GRANT SELECT ON TABLES TO ${ident(role)}`.execute(db);
  await grantSample(db, role);
  return { schema, role };
}

/** SELECT on the sample tables, once they exist (they may be generated after the environment). */
export async function grantSample(db: Kysely<Database>, role: string): Promise<void> {
  const sample = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = ${SAMPLE_SCHEMA}`.execute(db);
  if (!sample.rows[0]?.n) return;
  await sql`GRANT USAGE ON SCHEMA ${ident(SAMPLE_SCHEMA)} TO ${ident(role)}`.execute(db);
  await sql`GRANT SELECT ON ALL TABLES IN SCHEMA ${ident(SAMPLE_SCHEMA)} TO ${ident(role)}`.execute(db);
}

async function currentDatabase(db: Kysely<Database>): Promise<string> {
  const row = await sql<{ name: string }>`SELECT current_database() AS name`.execute(db);
  return row.rows[0]?.name ?? '';
}
