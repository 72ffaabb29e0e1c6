import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import {
  Client as ModernClient,
  ClientCredentialsProvider,
  StreamableHTTPClientTransport as ModernTransport,
} from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { ToolIO, ToolName } from '../../src/generated/handlers.js';
import { toolOutputValidators } from '../../src/generated/tool-output-validators.js';
import { createEnvironment, createOrganization } from '../../src/db/directory.js';
import { createLogger } from '../../src/logger.js';
import { createServiceAccount } from '../../src/oauth/admin.js';
import { OAuthServer } from '../../src/oauth/oauth-server.js';
import type { Principal, Scope } from '../../src/oauth/principal.js';
import { AuditLog } from '../../src/operations/audit.js';
import type { Services } from '../../src/operations/context.js';
import { indexDocs } from '../../src/operations/docs.js';
import type { ToolRegistry } from '../../src/operations/tool-registry.js';
import { FixedWindowLimiter } from '../../src/http/rate-limit.js';
import { startLakehouse, type Lakehouse } from '../../src/lakehouse/index.js';
import { loadSecretKey } from '../../src/secret-key.js';
import { createRequestListener, DOCS_DIR } from '../../src/server.js';
import { createTestDatabase, testLakehouseEnv, type TestDatabase } from './db.js';
import { TEST_SECRET_KEY } from './oauth.js';

/** The service accounts every test server makes, and the scopes of each. */
export const TOKEN_SCOPES = { read: ['read'], readWrite: ['read', 'write'], writeOnly: ['write'] } as const satisfies Record<
  string,
  Scope[]
>;
export type TokenKind = keyof typeof TOKEN_SCOPES;

export interface McpTestServer {
  /** The base URL the server answers on (its PUBLIC_URL, also its issuer). */
  url: string;
  /** `${url}/v1` */
  mcpUrl: string;
  /** The port the app itself listens on (differs from PUBLIC_URL's behind a proxy). */
  port: number;
  config: Config;
  database: TestDatabase;
  services: Services;
  audit: AuditLog;
  /** The real authorization server and token verifier of this server (as src/server.ts wires them). */
  oauth: OAuthServer;
  /** The organization and environment the tokens speak for. */
  organization: { id: string; name: string };
  environment: { id: string; name: string };
  /**
   * Real access tokens (RFC 9068 JWTs), issued by this server's token endpoint with client_credentials to
   * three service accounts of `environment`: read, read+write and write-only. Valid on this server only
   * (the audience is its PUBLIC_URL), for 15 minutes.
   */
  tokens: Record<TokenKind, string>;
  /** What this server's verifier makes of each token (copies: changing them changes nothing). */
  principals: Record<TokenKind, Principal>;
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
  /** `organization/environment` the tokens speak for, created when missing; default `acme/production`. */
  environment?: string;
  /** The lakehouse to query (a harness's, shared by its servers); default one of this server's own. */
  lakehouse?: Lakehouse;
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

/** The ids of `organization/environment`, creating either when missing. */
async function ensureEnvironment(
  database: TestDatabase,
  ref: string,
): Promise<{ organization: { id: string; name: string }; environment: { id: string; name: string } }> {
  const [organization = '', environment = ''] = ref.split('/');
  const { db } = database;
  const org =
    (await db.selectFrom('organizations').select('id').where('name', '=', organization).executeTakeFirst()) ??
    (await createOrganization(db, organization));
  const env =
    (await db
      .selectFrom('environments')
      .select('id')
      .where('organization_id', '=', org.id)
      .where('name', '=', environment)
      .executeTakeFirst()) ?? (await createEnvironment(db, { organization, environment }));
  return { organization: { id: org.id, name: organization }, environment: { id: env.id, name: environment } };
}

/**
 * The server's app (src/server.ts createRequestListener: the MCP endpoint and the real OAuth server mounted;
 * without the sample data and the webhook worker, and with a replaceable tool registry), on a free port,
 * over a fresh test database (docs indexed) or a shared one. It makes three service accounts in
 * `options.environment` and gets their access tokens from its own token endpoint.
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
    // A fixed key, so that test servers never write one into the repository's .data.
    SECRET_KEY: TEST_SECRET_KEY,
    ...testLakehouseEnv(),
    ...options.env,
  });
  const log = createLogger(config.logLevel);
  const db = database.db;
  if (ownDatabase) await indexDocs(db, DOCS_DIR, log);
  const secret = loadSecretKey(config);
  const oauth = new OAuthServer({ config, db, log, secret });
  await oauth.start();
  const audit = new AuditLog(db, log, { intervalMs: 50 });
  const ownLakehouse = !options.lakehouse;
  const lakehouse = options.lakehouse ?? (await startLakehouse({ config, db, secret, log }));
  const close = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    oauth.close();
    await audit.close();
    if (ownLakehouse) await lakehouse.close();
    if (ownDatabase) await database.drop();
  };
  try {
    const services: Services = {
      config,
      db,
      log,
      ping: async () => void (await sql`SELECT 1`.execute(db)),
      lakehouse,
      limiters: { toolCalls: new FixedWindowLimiter(config.toolCallLimit) },
      // No outbox worker here: the asset harness runs its own (AssetHarness.worker) where a test needs one.
      webhooks: { nudge: () => undefined },
      oauth,
      audit,
    };
    handler = createRequestListener({ services, ...(options.tools ? { tools: options.tools } : {}) });

    const ref = options.environment ?? 'acme/production';
    const { organization, environment } = await ensureEnvironment(database, ref);
    // Straight to the app's port: PUBLIC_URL may name a proxy that is not forwarding yet.
    const tokenEndpoint = `http://127.0.0.1:${port}${oauth.issuerPath}/oauth/token`;
    const issue = async (kind: TokenKind): Promise<[TokenKind, string]> => {
      const scopes = [...TOKEN_SCOPES[kind]];
      const account = await createServiceAccount(
        db,
        { organization: organization.name, environment: environment.name },
        `tests ${scopes.join('+')} :${port}`,
        scopes,
      );
      const response = await fetch(tokenEndpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${account.client_id}:${account.client_secret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${config.publicUrl}/v1` }),
      });
      const body = (await response.json()) as { access_token?: string; scope?: string };
      if (!body.access_token || body.scope !== scopes.join(' '))
        throw new Error(`client_credentials for ${kind} failed: ${JSON.stringify(body)}`);
      return [kind, body.access_token];
    };
    const tokens = Object.fromEntries(await Promise.all((Object.keys(TOKEN_SCOPES) as TokenKind[]).map(issue))) as Record<
      TokenKind,
      string
    >;
    const verified = await Promise.all(
      Object.entries(tokens).map(async ([kind, token]) => [kind, { ...(await oauth.verifier.verify(token)) }] as const),
    );
    const principals = Object.fromEntries(verified) as Record<TokenKind, Principal>;
    return {
      url: config.publicUrl,
      mcpUrl: `${config.publicUrl}/v1`,
      port,
      config,
      database,
      services,
      audit,
      oauth,
      organization,
      environment,
      tokens,
      principals,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
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
 * Start it first, then start the app with PUBLIC_URL = the proxy's URL, then set `target` and `token`
 * (a token of that app: its audience is the proxy's URL).
 */
export async function startBearerProxy(
  token = '',
): Promise<{ url: string; port: number; target: number; token: string; close(): Promise<void> }> {
  const state = { target: 0, token };
  const server = http.createServer((req, res) => {
    const upstream = http.request(
      {
        host: '127.0.0.1',
        port: state.target,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, authorization: `Bearer ${state.token}` },
      },
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
    get token() {
      return state.token;
    },
    set token(value: string) {
      state.token = value;
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** Calls a tool; answers its structured output (checked against the output schema) or fails. */
export async function call<N extends ToolName>(client: Client, name: N, args: ToolIO[N]['arguments']): Promise<ToolIO[N]['output']> {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  assert.notEqual(result.isError, true, `${name} failed: ${JSON.stringify(result.content)}`);
  const validate = toolOutputValidators[name];
  assert.ok(validate(result.structuredContent), `${name} output breaks its schema: ${JSON.stringify(validate.errors)}`);
  return result.structuredContent;
}

/** Calls a tool that must fail; answers its error code and message. */
export async function callError(client: Client, name: ToolName, args: Record<string, unknown>): Promise<{ code: string; message: string }> {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  assert.equal(result.isError, true, `${name} should have failed: ${JSON.stringify(result.structuredContent)}`);
  const meta = (result._meta as Record<string, { code: string }> | undefined)?.['lakehouse-mcp/error'];
  const text = result.content.find((c) => c.type === 'text');
  return { code: meta?.code ?? '', message: text && text.type === 'text' ? text.text : '' };
}

/**
 * The MCP SDK v2 client (@modelcontextprotocol/client) connected to the server as a new read+write service
 * account, by its own client_credentials flow, negotiating the protocol revision itself.
 */
export async function connectModernClient(server: McpTestServer, name: string): Promise<ModernClient> {
  const account = await createServiceAccount(
    server.database.db,
    { organization: server.organization.name, environment: server.environment.name },
    name,
    ['read', 'write'],
  );
  const authProvider = new ClientCredentialsProvider({
    clientId: account.client_id,
    clientSecret: account.client_secret,
    scope: 'read write',
    expectedIssuer: server.config.issuerUrl,
  });
  const client = new ModernClient({ name, version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
  await client.connect(new ModernTransport(new URL(server.mcpUrl), { authProvider }));
  return client;
}
