import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createEnvironment, createOrganization } from '../../../src/db/directory.js';
import { createServiceAccount } from '../../../src/oauth/admin.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.js';
import { connectClient } from '../../helpers/mcp.js';
import { startServerProcess } from '../../helpers/server-process.js';

// Two real server processes on one database, sharing nothing else, behind a round-robin proxy that plays
// the load balancer: every request of one client alternates between them (README.md, "Architecture").

const SECRET_KEY = Buffer.alloc(32, 9).toString('base64');

interface Backend {
  child: ChildProcess;
  port: number;
  served: number;
}

async function startProcess(env: NodeJS.ProcessEnv): Promise<Backend> {
  const { child, port } = await startServerProcess(env);
  return { child, port, served: 0 };
}

/** A load balancer that sends each request to the next backend, Host header untouched. */
function roundRobinProxy(backends: Backend[]): http.Server {
  let next = 0;
  return http.createServer((req, res) => {
    const backend = backends[next++ % backends.length];
    if (!backend) return void res.writeHead(502).end();
    if (req.url === '/v1') backend.served++;
    const upstream = http.request(
      { host: '127.0.0.1', port: backend.port, method: req.method, path: req.url, headers: req.headers },
      (response) => {
        res.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
}

describe('any process serves any request', () => {
  let database: TestDatabase;
  let proxy: http.Server;
  const backends: Backend[] = [];
  let publicUrl: string;

  before(async () => {
    database = await createTestDatabase();
    proxy = roundRobinProxy(backends);
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    publicUrl = `http://localhost:${(proxy.address() as AddressInfo).port}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: '0',
      PUBLIC_URL: publicUrl,
      DATABASE_URL: database.url,
      SECRET_KEY,
      LOG_LEVEL: 'warn',
    };
    // One after the other: the second start finds the first one's migrations and signing key.
    backends.push(await startProcess(env));
    backends.push(await startProcess(env));
  });

  after(async () => {
    for (const backend of backends) {
      backend.child.kill('SIGTERM');
      await new Promise((resolve) => backend.child.once('exit', resolve));
    }
    await new Promise((resolve) => proxy.close(resolve));
    await database.drop();
  });

  it('completes initialize, tools/list and tools/call with requests alternating between two processes', async () => {
    await createOrganization(database.db, 'acme');
    await createEnvironment(database.db, { organization: 'acme', environment: 'production' });
    const account = await createServiceAccount(database.db, { organization: 'acme', environment: 'production' }, 'multi', ['read']);
    const tokenResponse = await fetch(`${publicUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: account.client_id, client_secret: account.client_secret }),
    });
    const { access_token: token } = (await tokenResponse.json()) as { access_token: string };
    assert.ok(token, 'the token endpoint of one process issued a token');

    const client = await connectClient(`${publicUrl}/v1`, token);
    try {
      const { tools } = await client.listTools();
      assert.ok(tools.some((t) => t.name === 'get_session_context'));
      for (let i = 0; i < 4; i++) {
        const result = await client.callTool({ name: 'get_session_context', arguments: {} });
        assert.notEqual(result.isError, true, JSON.stringify(result));
        const context = result.structuredContent as { environment: { name: string } };
        assert.equal(context.environment.name, 'production');
      }
    } finally {
      await client.close();
    }
    // initialize, notifications/initialized, tools/list and four tools/call went through the proxy.
    assert.ok(
      backends.every((b) => b.served >= 2),
      `both processes served MCP requests: ${backends.map((b) => b.served).join(', ')}`,
    );
  });
});
