import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { mcpHeaders, postMcp, startMcpTestServer, type McpTestServer } from '../../helpers/mcp.js';

// The HTTP rules of the streamable HTTP transport on /v1, driven with raw requests: each bad input gets
// its own status and a JSON-RPC error body, and changes nothing.

let server: McpTestServer;
before(async () => {
  server = await startMcpTestServer({ env: { ALLOWED_ORIGINS: 'https://app.example.com' } });
});
after(async () => {
  await server?.close();
});

const initialize = (id: number | string = 1, protocolVersion = '2025-11-25') => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: { protocolVersion, capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});
const call = (id: number | string, name: string, args: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args },
});

async function jsonRpcError(
  response: Response,
  status: number,
  code: number,
): Promise<{ id: unknown; error: { code: number; message: string } }> {
  assert.equal(response.status, status);
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  const body = (await response.json()) as { jsonrpc: string; id: unknown; error: { code: number; message: string } };
  assert.equal(body.jsonrpc, '2.0');
  assert.equal(body.error.code, code, body.error.message);
  return body;
}

/** A request with a Host header of our choosing (fetch does not let us set Host). */
function rawPost(host: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port: server.port,
        method: 'POST',
        path: '/v1',
        headers: { ...mcpHeaders(), host, 'content-length': Buffer.byteLength(payload), ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

describe('MCP transport: methods and media types', () => {
  it('answers GET and DELETE with 405 and Allow: POST (stateless: no SSE stream, no session)', async () => {
    for (const method of ['GET', 'DELETE']) {
      const response = await fetch(server.mcpUrl, { method, headers: mcpHeaders(server.tokens.read) });
      await jsonRpcError(response, 405, -32000);
      assert.equal(response.headers.get('allow'), 'POST');
    }
  });

  it('refuses with 406 an Accept header that does not list both application/json and text/event-stream', async () => {
    for (const accept of ['application/json', 'text/event-stream', '*/*', 'application/json, text/event-stream;q=0']) {
      const response = await postMcp(server.mcpUrl, initialize(), undefined, { accept });
      await jsonRpcError(response, 406, -32000);
    }
  });

  it('refuses with 415 a body that is not application/json', async () => {
    const response = await postMcp(server.mcpUrl, JSON.stringify(initialize()), undefined, { 'content-type': 'text/plain' });
    await jsonRpcError(response, 415, -32000);
  });

  it('refuses with 413 a body over 1 MiB, without reading it all', async () => {
    const huge = JSON.stringify({ ...call(1, 'search_docs', { query: 'x'.repeat(1024 * 1024 + 10) }) });
    const response = await postMcp(server.mcpUrl, huge, server.tokens.read);
    await jsonRpcError(response, 413, -32000);
  });
});

describe('MCP transport: JSON-RPC framing', () => {
  it('answers malformed JSON with a parse error (-32700, HTTP 400)', async () => {
    const body = await jsonRpcError(
      await postMcp(server.mcpUrl, '{"jsonrpc": "2.0", "id": 1, "method": ', server.tokens.read),
      400,
      -32700,
    );
    assert.equal(body.id, null);
  });

  it('refuses a JSON-RPC batch with -32600 and says that batching is gone, in every protocol version', async () => {
    for (const version of ['2025-03-26', '2025-06-18', '2025-11-25']) {
      const response = await postMcp(server.mcpUrl, [initialize(1), initialize(2)], server.tokens.read, {
        'mcp-protocol-version': version,
      });
      const body = await jsonRpcError(response, 400, -32600);
      assert.match(body.error.message, /batch/i);
    }
  });

  it('refuses with -32600 a message that is not a JSON-RPC 2.0 message, echoing a usable id', async () => {
    const cases: unknown[] = [
      { id: 7, method: 'ping' },
      { jsonrpc: '1.0', id: 7, method: 'ping' },
      { jsonrpc: '2.0', id: 7 },
      42,
      null,
      { jsonrpc: '2.0', id: 7, method: 'ping', extra: true },
    ];
    for (const message of cases) {
      const body = await jsonRpcError(await postMcp(server.mcpUrl, message, server.tokens.read), 400, -32600);
      if (message && typeof message === 'object' && 'id' in message) assert.equal(body.id, 7);
    }
  });

  it('answers an unknown method with -32601 (HTTP 200)', async () => {
    const body = await jsonRpcError(
      await postMcp(server.mcpUrl, { jsonrpc: '2.0', id: 'x', method: 'resources/subscribe' }, server.tokens.read),
      200,
      -32601,
    );
    assert.equal(body.id, 'x');
  });

  it('accepts notifications and responses with 202 and no body', async () => {
    for (const message of [
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', method: 'notifications/unknown-but-harmless' },
      { jsonrpc: '2.0', id: 5, result: {} },
    ]) {
      const response = await postMcp(server.mcpUrl, message, server.tokens.read);
      assert.equal(response.status, 202);
      assert.equal(await response.text(), '');
    }
  });

  it('never issues an Mcp-Session-Id', async () => {
    const response = await postMcp(server.mcpUrl, initialize());
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('mcp-session-id'), null);
  });
});

describe('MCP transport: protocol versions', () => {
  it('negotiates each supported version in initialize and offers the newest for any other', async () => {
    for (const [asked, answered] of [
      ['2025-03-26', '2025-03-26'],
      ['2025-06-18', '2025-06-18'],
      ['2025-11-25', '2025-11-25'],
      ['2024-11-05', '2025-11-25'],
      ['2099-01-01', '2025-11-25'],
    ] as const) {
      const response = await postMcp(server.mcpUrl, initialize(1, asked));
      const body = (await response.json()) as {
        result: { protocolVersion: string; capabilities: Record<string, unknown>; serverInfo: { name: string } };
      };
      assert.equal(body.result.protocolVersion, answered, `asked ${asked}`);
      assert.deepEqual(Object.keys(body.result.capabilities).sort(), ['completions', 'logging', 'prompts', 'resources', 'tools']);
      assert.equal(body.result.serverInfo.name, 'lakehouse-mcp');
    }
  });

  it('refuses an unsupported MCP-Protocol-Version header with 400', async () => {
    for (const version of ['2024-11-05', 'banana']) {
      await jsonRpcError(
        await postMcp(server.mcpUrl, { jsonrpc: '2.0', id: 1, method: 'ping' }, server.tokens.read, { 'mcp-protocol-version': version }),
        400,
        -32000,
      );
    }
  });

  it('takes a request without MCP-Protocol-Version to be 2025-03-26', async () => {
    const headers = mcpHeaders(server.tokens.read);
    delete headers['mcp-protocol-version'];
    const response = await fetch(server.mcpUrl, { method: 'POST', headers, body: JSON.stringify(call(1, 'get_session_context')) });
    const body = (await response.json()) as { result: { structuredContent: { protocol_version: string } } };
    assert.equal(body.result.structuredContent.protocol_version, '2025-03-26');
  });
});

describe('MCP transport: Origin and Host', () => {
  it('refuses with 403 a request whose Origin is present and not allowed', async () => {
    for (const origin of ['https://evil.example.com', 'null', `http://localhost:${server.port + 1}`]) {
      await jsonRpcError(await postMcp(server.mcpUrl, initialize(), undefined, { origin }), 403, -32000);
    }
  });

  it('accepts the PUBLIC_URL origin and the origins of ALLOWED_ORIGINS', async () => {
    for (const origin of [server.url, 'https://app.example.com', `http://127.0.0.1:${server.port}`]) {
      const response = await postMcp(server.mcpUrl, initialize(), undefined, { origin });
      assert.equal(response.status, 200, origin);
    }
  });

  it('refuses with 403 a Host other than PUBLIC_URL’s (DNS rebinding)', async () => {
    for (const host of ['evil.example.com', `evil.example.com:${server.port}`, `localhost:${server.port + 1}`, 'localhost']) {
      const answer = await rawPost(host, initialize());
      assert.equal(answer.status, 403, host);
      assert.equal((JSON.parse(answer.body) as { error: { code: number } }).error.code, -32000);
    }
  });

  it('accepts every loopback spelling of a loopback PUBLIC_URL with its port (localhost, 127.0.0.1, [::1])', async () => {
    for (const host of [`localhost:${server.port}`, `127.0.0.1:${server.port}`, `[::1]:${server.port}`, `LOCALHOST:${server.port}`]) {
      const answer = await rawPost(host, initialize());
      assert.equal(answer.status, 200, host);
    }
  });
});

describe('MCP transport: authorization', () => {
  const metadata = () => `resource_metadata="${server.url}/.well-known/oauth-protected-resource/v1"`;

  it('lets initialize, notifications/initialized and ping through without a token', async () => {
    assert.equal((await postMcp(server.mcpUrl, initialize())).status, 200);
    assert.equal((await postMcp(server.mcpUrl, { jsonrpc: '2.0', method: 'notifications/initialized' })).status, 202);
    const ping = (await (await postMcp(server.mcpUrl, { jsonrpc: '2.0', id: 3, method: 'ping' })).json()) as { result: unknown };
    assert.deepEqual(ping.result, {});
  });

  it('answers 401 with a Bearer challenge naming the resource metadata and scopes when the token is missing', async () => {
    for (const message of [
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      call(2, 'search_docs', { query: 'x' }),
      { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } },
    ]) {
      const response = await postMcp(server.mcpUrl, message);
      await jsonRpcError(response, 401, -32000);
      const challenge = response.headers.get('www-authenticate') ?? '';
      assert.match(challenge, /^Bearer /);
      assert.ok(challenge.includes(metadata()), challenge);
      assert.ok(challenge.includes('scope="read write"'), challenge);
      assert.ok(!challenge.includes('error='), challenge);
    }
  });

  it('answers 401 with error="invalid_token" when the token sent fails verification', async () => {
    for (const authorization of ['Bearer not-a-token', 'Basic dXNlcjpwYXNz', 'Bearer']) {
      const response = await postMcp(server.mcpUrl, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, undefined, { authorization });
      await jsonRpcError(response, 401, -32000);
      const challenge = response.headers.get('www-authenticate') ?? '';
      assert.ok(challenge.includes('error="invalid_token"'), challenge);
      assert.ok(challenge.includes(metadata()), challenge);
    }
  });
});

describe('MCP transport: isolation of concurrent requests', () => {
  it('gives two clients that send the same JSON-RPC id at once each their own answer', async () => {
    // 50 pairs of concurrent calls with id 1: a read token and a read-write token ask who they are.
    const rounds = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const [a, b] = await Promise.all([
          postMcp(server.mcpUrl, call(1, 'get_session_context'), server.tokens.read),
          postMcp(server.mcpUrl, call(1, 'get_session_context'), server.tokens.readWrite),
        ]);
        type Answer = { id: number; result: { structuredContent: { subject: { id: string }; scopes: string[] } } };
        return [(await a.json()) as Answer, (await b.json()) as Answer];
      }),
    );
    for (const [a, b] of rounds) {
      assert.equal(a?.id, 1);
      assert.equal(b?.id, 1);
      assert.equal(a?.result.structuredContent.subject.id, server.principals.read.subject);
      assert.deepEqual(a?.result.structuredContent.scopes, ['read']);
      assert.equal(b?.result.structuredContent.subject.id, server.principals.readWrite.subject);
      assert.deepEqual(b?.result.structuredContent.scopes, ['read', 'write']);
    }
  });
});
