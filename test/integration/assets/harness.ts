import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { createDb } from '../../../src/db/database.js';
import { createEnvironment, createOrganization } from '../../../src/db/directory.js';
import type { ToolName } from '../../../src/generated/handlers.js';
import { installId } from '../../../src/lakehouse/provision.js';
import type { Lakehouse } from '../../../src/lakehouse/index.js';
import { startTestLakehouse } from '../../helpers/lakehouse.js';
import { createLogger } from '../../../src/logger.js';
import type { Principal } from '../../../src/oauth/principal.js';
import { webhookSettings, type WebhookSettings } from '../../../src/webhooks/settings.js';
import { WebhookWorker } from '../../../src/webhooks/worker.js';
import { createTestDatabase, noteInstallId, type TestDatabase } from '../../helpers/db.js';
import { connectClient, mcpHeaders, startMcpTestServer, type McpTestServer } from '../../helpers/mcp.js';

// One test file's saved-asset world: a copy of the run's template database, two environments
// (acme/production = a, acme/staging = b) with the lakehouse attached, one MCP server per environment (its
// real tokens are service accounts' of that environment), clients with a read+write and a read-only token.

export const SECRET = crypto.createHash('sha256').update('asset tests').digest();

export interface AssetHarness {
  database: TestDatabase;
  lakehouse: Lakehouse;
  env: { a: { id: string }; b: { id: string } };
  servers: { a: McpTestServer; b: McpTestServer };
  /** read+write clients of each environment, and a read-only one of a. */
  clients: { a: Client; b: Client; reader: Client };
  principal(env: 'a' | 'b', kind?: 'read' | 'readWrite'): Principal;
  /** A worker on its own connection pool, as another process would have (stop it yourself). */
  worker(settings?: Partial<WebhookSettings>): WebhookWorker;
  close(): Promise<void>;
}

export async function startAssetHarness(): Promise<AssetHarness> {
  const database = await createTestDatabase();
  await createOrganization(database.db, 'acme');
  const a = await createEnvironment(database.db, { organization: 'acme', environment: 'production' });
  const b = await createEnvironment(database.db, { organization: 'acme', environment: 'staging' });
  const install = await installId(database.db);
  noteInstallId(database.name, install);
  const lakehouse = await startTestLakehouse(database.db, SECRET, {});
  const start = (environment: string) =>
    startMcpTestServer({ database, lakehouse, environment, env: { SECRET_KEY: SECRET.toString('base64'), ALLOW_PRIVATE_NETWORK: '1' } });
  const servers = { a: await start('acme/production'), b: await start('acme/staging') };
  const clients = {
    a: await connectClient(servers.a.mcpUrl, servers.a.tokens.readWrite),
    b: await connectClient(servers.b.mcpUrl, servers.b.tokens.readWrite),
    reader: await connectClient(servers.a.mcpUrl, servers.a.tokens.read),
  };
  const pools: { destroy(): Promise<void> }[] = [];
  return {
    database,
    lakehouse,
    env: { a: { id: a.id }, b: { id: b.id } },
    servers,
    clients,
    principal: (env, kind = 'readWrite') => servers[env].principals[kind],
    worker(settings = {}) {
      const db = createDb(database.url);
      pools.push(db);
      return new WebhookWorker({
        db,
        secretKey: SECRET,
        allowPrivateNetwork: true,
        settings: { ...webhookSettings({}), pollMs: 20, retryBaseMs: 50, retryMaxMs: 200, timeoutMs: 2_000, ...settings },
        log: createLogger('silent'),
      });
    },
    async close() {
      await Promise.all([clients.a.close(), clients.b.close(), clients.reader.close()]);
      await servers.a.close();
      await servers.b.close();
      await lakehouse.close();
      await Promise.all(pools.map((p) => p.destroy()));
      await database.drop();
    },
  };
}

export { call, callError } from '../../helpers/mcp.js';

/** A tools/call with the read-only token: must be refused with HTTP 403 insufficient_scope. */
export async function assertReaderRefused(server: McpTestServer, name: ToolName, args: Record<string, unknown>): Promise<void> {
  const response = await fetch(server.mcpUrl, {
    method: 'POST',
    headers: mcpHeaders(server.tokens.read),
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }),
  });
  assert.equal(response.status, 403, `${name} with a read-only token`);
  assert.match(response.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
}

/** Waits until `check` answers truthy (polling), or fails after `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, ms = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
