import crypto from 'node:crypto';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { sql } from 'kysely';
import { createEnvironment, createOrganization } from '../../../src/db/directory.js';
import { addConnection } from '../../../src/lakehouse/connections.js';
import { installId } from '../../../src/lakehouse/provision.js';
import type { Lakehouse } from '../../../src/lakehouse/index.js';
import { startTestLakehouse } from '../../helpers/lakehouse.js';
import { createTestDatabase, noteInstallId, type TestDatabase } from '../../helpers/db.js';
import { call, connectClient, startMcpTestServer, type McpTestServer } from '../../helpers/mcp.js';

// One test file's lakehouse: a copy of the run's template database, two environments ("acme/production" and
// "acme/staging"), the Lakehouse (DuckDB workers over the run's sample, the PostgreSQL sandbox), and one MCP
// server per environment (its read token, a real one, is a service account's of that environment).
// For the PostgreSQL sandbox, each environment also has an external connection `warehouse`: a schema of its
// own in the test database, read by a LOGIN role that may SELECT from that schema only (its search_path),
// the way an operator sets up a read-only user for `admin connection add`.

export interface Warehouse {
  id: string;
  /** The warehouse schema of this environment's `warehouse` connection ('' without one). */
  schema: string;
  /** The connection's database user. */
  role: string;
  /** The connection's URL (the role's password in it). */
  url: string;
}

export interface LakehouseHarness {
  database: TestDatabase;
  lakehouse: Lakehouse;
  install: string;
  env: { a: Warehouse; b: Warehouse };
  servers: { a: McpTestServer; b: McpTestServer };
  clients: { a: Client; b: Client };
  close(): Promise<void>;
}

export const SECRET = crypto.createHash('sha256').update('lakehouse tests').digest();

/** A schema and a read-only role for it, added to the environment as its `warehouse` connection. */
export async function addWarehouse(database: TestDatabase, install: string, environmentId: string, key: string): Promise<Warehouse> {
  const schema = `wh_${key}`;
  const role = `lh_${install}_wh_${key}`;
  const password = crypto.randomBytes(12).toString('hex');
  const { db } = database;
  await sql.raw(`CREATE SCHEMA ${schema}`).execute(db);
  await sql.raw(`CREATE ROLE ${role} LOGIN PASSWORD '${password}' CONNECTION LIMIT 32`).execute(db);
  await sql.raw(`GRANT CONNECT ON DATABASE ${database.name} TO ${role}`).execute(db);
  await sql.raw(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`).execute(db);
  await sql.raw(`ALTER DEFAULT PRIVILEGES IN SCHEMA ${schema} GRANT SELECT ON TABLES TO ${role}`).execute(db);
  await sql.raw(`ALTER ROLE ${role} IN DATABASE ${database.name} SET search_path = ${schema}`).execute(db);
  const url = new URL(database.url);
  url.username = role;
  url.password = password;
  await addConnection(db, SECRET, environmentId, 'warehouse', url.href);
  return { id: environmentId, schema, role, url: url.href };
}

/** `warehouse`: give each environment the external connection `warehouse` (the PostgreSQL sandbox's tests). */
export async function startLakehouseHarness(options: { sqlConcurrency?: number; warehouse?: boolean } = {}): Promise<LakehouseHarness> {
  const database = await createTestDatabase();
  await createOrganization(database.db, 'acme');
  const a = await createEnvironment(database.db, { organization: 'acme', environment: 'production' });
  const b = await createEnvironment(database.db, { organization: 'acme', environment: 'staging' });
  const install = await installId(database.db);
  noteInstallId(database.name, install);
  // As the product does: no default privileges for PUBLIC in the application database.
  await sql.raw(`REVOKE CONNECT, TEMPORARY ON DATABASE ${database.name} FROM PUBLIC`).execute(database.db);
  await sql.raw('REVOKE ALL ON SCHEMA public FROM PUBLIC').execute(database.db);
  const warehouse = (id: string, key: string) =>
    options.warehouse ? addWarehouse(database, install, id, key) : Promise.resolve({ id, schema: '', role: '', url: '' });
  const env = { a: await warehouse(a.id, 'a'), b: await warehouse(b.id, 'b') };
  const lakehouse = await startTestLakehouse(database.db, SECRET, { SQL_CONCURRENCY: String(options.sqlConcurrency ?? 4) });
  const start = (environment: string) =>
    startMcpTestServer({
      database,
      lakehouse,
      environment,
      env: { SECRET_KEY: SECRET.toString('base64'), SQL_CONCURRENCY: String(options.sqlConcurrency ?? 4) },
    });
  const servers = { a: await start('acme/production'), b: await start('acme/staging') };
  const clients = {
    a: await connectClient(servers.a.mcpUrl, servers.a.tokens.read),
    b: await connectClient(servers.b.mcpUrl, servers.b.tokens.read),
  };
  return {
    database,
    lakehouse,
    install,
    env,
    servers,
    clients,
    async close() {
      await clients.a.close();
      await clients.b.close();
      await servers.a.close();
      await servers.b.close();
      await lakehouse.close();
      await database.drop();
    },
  };
}

export { call, callError } from '../../helpers/mcp.js';

/** get_session_context's counts may lag a change by a few seconds (a per-process cache): poll for them. */
export async function sessionHolds(client: Client, until: (holds: { connections: number; semantic_models: number }) => boolean) {
  let holds = (await call(client, 'get_session_context', {})).holds;
  for (let waited = 0; !until(holds) && waited < 8_000; waited += 250) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    holds = (await call(client, 'get_session_context', {})).holds;
  }
  return holds;
}

/**
 * Sessions of this test database holding the advisory lock `key` (one bigint key). pg_locks is cluster-wide
 * and the server takes advisory locks of its own (migrations, key rotation), also in the other test files
 * running beside this one: count only this database's and this key's.
 */
export async function advisoryLocksHeld(h: LakehouseHarness, key: number): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM pg_locks
     WHERE locktype = 'advisory' AND classid = 0 AND objid = ${key} AND objsubid = 1
       AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`.execute(h.database.db);
  return rows[0]?.n ?? 0;
}
