import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createApp } from '../../src/http/app.js';
import { createLogger } from '../../src/logger.js';
import { createMcpEndpoint } from '../../src/mcp/endpoint.js';
import type { ToolRegistry } from '../../src/mcp/tool-catalogue.js';
import { AuditLog } from '../../src/operations/audit.js';
import type { Services } from '../../src/operations/context.js';
import { indexDocs } from '../../src/operations/docs.js';
import { koaOperationHandlers, operationHandlers } from '../../src/operations/index.js';
import type { Principal } from '../../src/oauth/principal.js';
import { DOCS_DIR } from '../../src/server.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { StaticTokenVerifier, testPrincipal } from './static-verifier.js';

/** Bearer tokens of the stand-in verifier (test/helpers/static-verifier.ts) until OAuth issues real ones. */
export const TOKENS = { read: 'token-read', readWrite: 'token-read-write', writeOnly: 'token-write-only' } as const;

export interface McpTestServer {
  /** The base URL the server answers on (its PUBLIC_URL). */
  url: string;
  /** `${url}/v1` */
  mcpUrl: string;
  /** The port the app itself listens on (differs from PUBLIC_URL's behind a proxy). */
  port: number;
  config: Config;
  database: TestDatabase;
  services: Services;
  audit: AuditLog;
  verifier: StaticTokenVerifier;
  principals: Record<keyof typeof TOKENS, Principal>;
  close(): Promise<void>;
}

export interface McpTestServerOptions {
  /** PUBLIC_URL, given the port the app got; default `http://localhost:<port>`. */
  publicUrl?: (port: number) => string;
  env?: Record<string, string>;
  /** Tools to serve instead of the generated ones (for progress and cancellation tests). */
  tools?: ToolRegistry;
  /** Share a database (and its audit log) between servers, as processes of one deployment do. */
  database?: TestDatabase;
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

/**
 * The Koa app of src/http/app.ts with the MCP endpoint mounted, on a free port, over a fresh test database
 * (docs indexed), with the stand-in token verifier. TODO: switch to test/helpers/app.ts (the real
 * server) once src/server.ts mounts the endpoint with the OAuth verifier.
 */
export async function startMcpTestServer(options: McpTestServerOptions = {}): Promise<McpTestServer> {
  const ownDatabase = !options.database;
  const database = options.database ?? (await createTestDatabase());
  let handler: http.RequestListener = (_req, res) => res.writeHead(503).end();
  const server = http.createServer((req, res) => handler(req, res));
  const port = await listen(server);
  const config = loadConfig({
    PORT: String(port),
    PUBLIC_URL: options.publicUrl?.(port) ?? `http://localhost:${port}`,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...options.env,
  });
  const log = createLogger(config.logLevel);
  const db = database.db;
  const services: Services = { config, db, log, ping: async () => void (await sql`SELECT 1`.execute(db)) };
  if (ownDatabase) await indexDocs(db, DOCS_DIR, log);
  const principals = {
    read: testPrincipal(['read']),
    readWrite: testPrincipal(['read', 'write']),
    writeOnly: testPrincipal(['write'], { kind: 'service', subjectName: 'ci-bot' }),
  };
  const verifier = new StaticTokenVerifier(
    new Map([
      [TOKENS.read, principals.read],
      [TOKENS.readWrite, principals.readWrite],
      [TOKENS.writeOnly, principals.writeOnly],
    ]),
  );
  const audit = new AuditLog(db, log, { intervalMs: 50 });
  const mcp = createMcpEndpoint({ services, verifier, audit, ...(options.tools ? { tools: options.tools } : {}) });
  const callback = createApp({ services, handlers: { operations: operationHandlers, koa: koaOperationHandlers }, verifier, audit, mcp }).callback();
  handler = (req, res) => void callback(req, res);
  return {
    url: config.publicUrl,
    mcpUrl: `${config.publicUrl}/v1`,
    port,
    config,
    database,
    services,
    audit,
    verifier,
    principals,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await audit.close();
      if (ownDatabase) await database.drop();
    },
  };
}

/** An SDK client connected over streamable HTTP with a bearer token (or none). */
export async function connectClient(mcpUrl: string, token: string | undefined, name = 'test-client'): Promise<Client> {
  const client = new Client({ name, version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), {
    requestInit: { headers: token ? { Authorization: `Bearer ${token}` } : {} },
  });
  await client.connect(transport);
  return client;
}

/** Headers of a well-formed MCP POST. */
export function mcpHeaders(token?: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': '2025-11-25',
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    ...extra,
  };
}

/** POSTs one JSON-RPC message (or raw text) to the endpoint. */
export function postMcp(mcpUrl: string, body: unknown, token?: string, extra: Record<string, string> = {}): Promise<Response> {
  return fetch(mcpUrl, {
    method: 'POST',
    headers: mcpHeaders(token, extra),
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/**
 * A reverse proxy in front of the app that adds `Authorization: Bearer <token>` to every request and
 * forwards everything else untouched (Host included, as a reverse proxy configured to pass Host does).
 * Lets token-unaware tools (the conformance suite) reach the endpoint without an auth-off switch.
 * Start it first, then start the app with PUBLIC_URL = the proxy's URL, then set `target`.
 */
export async function startBearerProxy(token: string): Promise<{ url: string; port: number; target: number; close(): Promise<void> }> {
  const state = { target: 0 };
  const server = http.createServer((req, res) => {
    const upstream = http.request(
      { host: '127.0.0.1', port: state.target, method: req.method, path: req.url, headers: { ...req.headers, authorization: `Bearer ${token}` } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  const port = await listen(server);
  return {
    url: `http://localhost:${port}`,
    port,
    get target() {
      return state.target;
    },
    set target(value: number) {
      state.target = value;
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
