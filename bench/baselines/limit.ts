import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { openDuckFloor, workerSettings } from './duck-floor.js';

// The "limit" baseline: a bare node:http handler that verifies the same JWT with jose (on every request, as
// a handler without a cache would) and answers the same JSON-RPC result bytes as our get_session_context.
// No framework, no JSON-RPC parsing beyond finding the id: the floor for authenticated JSON-RPC over HTTP
// in Node. Config from the environment (bench/run.ts starts it):
//   BENCH_JWKS_URL, BENCH_ISSUER, BENCH_AUDIENCE   what the token is checked against
//   BENCH_RESULTS  JSON object: method name → the `result` JSON text to answer (tools/call, tools/list)
//   BENCH_SAMPLE_FILES, BENCH_POINT_SQL  (optional) a tools/call of query_lakehouse runs BENCH_POINT_SQL on
//                  DuckDB in this process over the sample's Parquet files (BENCH_SAMPLE_FILES: JSON, table → file;
//                  set up as bench/baselines/duck-floor.ts, as a query worker is) and answers its rows: the floor
//                  for an authenticated call that queries (no guard, no MCP layer, no worker process). It was a
//                  plain pg pool while the sample lived in PostgreSQL; the built-in connections run on DuckDB now.

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const jwks = createRemoteJWKSet(new URL(env('BENCH_JWKS_URL')));
const issuer = env('BENCH_ISSUER');
const audience = env('BENCH_AUDIENCE');
const results = JSON.parse(env('BENCH_RESULTS')) as Record<string, string>;
const pointSql = process.env.BENCH_POINT_SQL;
const floor = process.env.BENCH_SAMPLE_FILES
  ? await openDuckFloor({ files: JSON.parse(process.env.BENCH_SAMPLE_FILES) as Record<string, string>, ...workerSettings() })
  : undefined;
/** One statement at a time, as a query worker runs its environment's calls. */
let tail: Promise<unknown> = Promise.resolve();

/** The rows of the point query as query_lakehouse's result shape (columns, rows, row_count). */
async function pointQueryResult(): Promise<string> {
  if (!floor || !pointSql) throw new Error('BENCH_SAMPLE_FILES and BENCH_POINT_SQL are not set');
  const sql = pointSql;
  const running = tail.then(() => floor.query(sql));
  tail = running.catch(() => undefined);
  const answer = await running;
  const structured = { columns: answer.columns.map((name) => ({ name })), rows: answer.rows, row_count: answer.rows.length };
  const text = JSON.stringify(structured);
  return `{"content":[{"type":"text","text":${JSON.stringify(text)}}],"structuredContent":${text}}`;
}

function reply(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    void (async () => {
      const header = req.headers.authorization ?? '';
      const token = header.startsWith('Bearer ') ? header.slice(7) : '';
      try {
        await jwtVerify(token, jwks, { issuer, audience, algorithms: ['ES256'], typ: 'at+jwt' });
      } catch {
        reply(res, 401, '{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Unauthorized"}}');
        return;
      }
      let message: { id?: unknown; method?: unknown; params?: { name?: unknown } };
      try {
        message = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof message;
      } catch {
        reply(res, 400, '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}');
        return;
      }
      const result =
        message.method === 'tools/call' && message.params?.name === 'query_lakehouse'
          ? await pointQueryResult()
          : typeof message.method === 'string'
            ? results[message.method]
            : undefined;
      if (result === undefined) {
        reply(
          res,
          200,
          `{"jsonrpc":"2.0","id":${JSON.stringify(message.id ?? null)},"error":{"code":-32601,"message":"Method not found"}}`,
        );
        return;
      }
      reply(res, 200, `{"jsonrpc":"2.0","id":${JSON.stringify(message.id ?? null)},"result":${result}}`);
    })();
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`ready ${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
