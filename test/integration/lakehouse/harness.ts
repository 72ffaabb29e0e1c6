import crypto from 'node:crypto';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { sql } from 'kysely';
import { createEnvironment, createOrganization } from '../../../src/db/directory.js';
import { installId } from '../../../src/lakehouse/provision.js';
import { Lakehouse } from '../../../src/lakehouse/sandbox.js';
import { createLogger } from '../../../src/logger.js';
import { createTestDatabase, noteInstallId, type TestDatabase } from '../../helpers/db.js';
import { call, connectClient, startMcpTestServer, type McpTestServer } from '../../helpers/mcp.js';

// One test file's lakehouse: a copy of the run's template database (sample data included), two
// environments ("acme/production" and "acme/staging") with their sandboxes, the Lakehouse attached, and
// one MCP server per environment (its read token, a real one, is a service account's of that environment).

export interface LakehouseHarness {
  database: TestDatabase;
  lakehouse: Lakehouse;
  install: string;
  env: { a: { id: string; schema: string; role: string }; b: { id: string; schema: string; role: string } };
  servers: { a: McpTestServer; b: McpTestServer };
  clients: { a: Client; b: Client };
  close(): Promise<void>;
}

export const SECRET = crypto.createHash('sha256').update('lakehouse tests').digest();

export async function startLakehouseHarness(options: { sqlConcurrency?: number } = {}): Promise<LakehouseHarness> {
  const database = await createTestDatabase();
  await createOrganization(database.db, 'acme');
  const a = await createEnvironment(database.db, { organization: 'acme', environment: 'production' });
  const b = await createEnvironment(database.db, { organization: 'acme', environment: 'staging' });
  const install = await installId(database.db);
  noteInstallId(database.name, install);
  const lakehouse = await new Lakehouse(database.db, {
    appUrl: database.url,
    secretKey: SECRET,
    sqlConcurrency: options.sqlConcurrency ?? 4,
    log: createLogger('silent'),
  }).init();
  const env = (id: string) => ({ id, schema: `env_${id.replace(/-/g, '')}`, role: lakehouse.roleName(id) });
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
    env: { a: env(a.id), b: env(b.id) },
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
