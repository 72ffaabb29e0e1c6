import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import * as z from 'zod/v4';

// The "reference" baseline: an MCP server written the way the SDK's own examples do it
// (examples/server/simpleStatelessStreamableHttp): a new McpServer with zod schemas and a new
// StreamableHTTPServerTransport per request (stateless), here on node:http, with the same JWT verified by
// jose against our JWKS URL, and the same get_session_context answer served from memory. JSON responses
// (enableJsonResponse) rather than the example's SSE stream, so that it answers the same bytes as we do
// (and does a little less work than the example). Config as bench/baselines/limit.ts:
//   BENCH_JWKS_URL, BENCH_ISSUER, BENCH_AUDIENCE, BENCH_SESSION_CONTEXT (the tool's structuredContent JSON)

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const jwks = createRemoteJWKSet(new URL(env('BENCH_JWKS_URL')));
const issuer = env('BENCH_ISSUER');
const audience = env('BENCH_AUDIENCE');
const sessionContext = JSON.parse(env('BENCH_SESSION_CONTEXT')) as Record<string, unknown>;
const sessionContextText = JSON.stringify(sessionContext);

const named = z.object({ id: z.string(), name: z.string() });
const outputSchema = {
  organization: named,
  environment: named,
  subject: z.object({ kind: z.enum(['user', 'service']), id: z.string(), name: z.string() }),
  client: named,
  scopes: z.array(z.enum(['read', 'write'])),
  protocol_version: z.string().optional(),
  holds: z.object({
    connections: z.number().int(),
    semantic_models: z.number().int(),
    insights: z.number().int(),
    dashboards: z.number().int(),
    memories: z.number().int(),
  }),
};

function getServer(): McpServer {
  const server = new McpServer({ name: 'reference', version: '1.0.0' }, { capabilities: { logging: {} } });
  server.registerTool(
    'get_session_context',
    {
      title: 'Session context',
      description: 'The organization, environment, scopes and client of this session.',
      inputSchema: {},
      outputSchema,
    },
    async () => ({ content: [{ type: 'text', text: sessionContextText }], structuredContent: sessionContext }),
  );
  return server;
}

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
    req.on('error', reject);
  });
}

const server = http.createServer((req, res) => {
  void (async () => {
    try {
      const header = req.headers.authorization ?? '';
      try {
        await jwtVerify(header.startsWith('Bearer ') ? header.slice(7) : '', jwks, {
          issuer,
          audience,
          algorithms: ['ES256'],
          typ: 'at+jwt',
        });
      } catch {
        res
          .writeHead(401, { 'content-type': 'application/json' })
          .end('{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Unauthorized"}}');
        return;
      }
      const body = await readBody(req);
      const mcp = getServer();
      const transport = new StreamableHTTPServerTransport({ enableJsonResponse: true }); // no sessionIdGenerator: stateless;
      res.on('close', () => {
        void transport.close();
        void mcp.close();
      });
      await mcp.connect(transport);
      await transport.handleRequest(req, res, body);
    } catch {
      if (!res.headersSent)
        res
          .writeHead(500, { 'content-type': 'application/json' })
          .end('{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"Internal server error"}}');
    }
  })();
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`ready ${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
