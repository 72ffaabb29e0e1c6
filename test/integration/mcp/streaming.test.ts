import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import type { ToolName } from '../../../src/generated/handlers.js';
import type { ToolDefinition } from '../../../src/generated/tools.js';
import { ResponseChannel } from '../../../src/mcp/response-channel.js';
import { generatedTools, type ToolRegistry } from '../../../src/operations/tool-registry.js';
import { connectClient, postMcp, startMcpTestServer, type McpTestServer } from '../../helpers/mcp.js';

// Progress over SSE, cancellation and disconnects. The server has no long-running tool yet, so these
// tests inject two test doubles through the endpoint's `tools` option (never part of the server).

const definition = (name: string): ToolDefinition => ({
  name: name as ToolName,
  title: name,
  description: `${name} (test double)`,
  scope: 'read',
  annotations: { readOnlyHint: true },
  inputSchema: { type: 'object', properties: { key: { type: 'string' } } },
  outputSchema: { type: 'object' },
  served: { inputSchema: { type: 'object', properties: { key: { type: 'string' } } } },
  rest: { method: 'GET', path: `/api/v1/${name}`, operationId: name },
});

/** What the waiting tool saw, by key: started, then aborted (with the reason) or finished. */
const seen = new Map<string, string[]>();
const tools: ToolRegistry = {
  tools: [...generatedTools.tools, definition('count_slowly'), definition('wait_for_abort')],
  validate: (name, input, locate) => {
    if (name !== 'count_slowly' && name !== 'wait_for_abort') generatedTools.validate(name, input, locate);
  },
  async run(name, input, ctx) {
    if (name === 'count_slowly') {
      for (let i = 1; i <= 3; i++) {
        ctx.progress(i, 3, `step ${i}`);
        ctx.clientLog('debug', 'below the default level: never sent');
        await sleep(20);
      }
      return { counted: 3 };
    }
    if (name === 'wait_for_abort') {
      const key = String((input as { key?: string }).key);
      const log = [...(seen.get(key) ?? []), 'started'];
      seen.set(key, log);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          log.push('finished');
          resolve();
        }, 4_000);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          log.push(`aborted: ${(ctx.signal.reason as Error).message}`);
          resolve();
        });
      });
      return { waited: true };
    }
    return generatedTools.run(name, input, ctx);
  },
};

async function until(condition: () => boolean, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

let server: McpTestServer;
let client: Client;
before(async () => {
  server = await startMcpTestServer({ tools });
  client = await connectClient(server.mcpUrl, server.tokens.read);
});
after(async () => {
  await client?.close();
  await server?.close();
});

describe('MCP response channel (SSE writer)', () => {
  async function serve(handle: (channel: ResponseChannel, res: http.ServerResponse) => void): Promise<Response> {
    const httpServer = http.createServer((_req, res) => handle(new ResponseChannel(res), res));
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    try {
      const response = await fetch(`http://127.0.0.1:${(httpServer.address() as AddressInfo).port}/`);
      await response.clone().text();
      return response;
    } finally {
      httpServer.close();
    }
  }

  it('stays plain until a notification is sent', async () => {
    const response = await serve((channel, res) => {
      assert.equal(channel.isStreaming, false);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    assert.equal(response.headers.get('content-type'), 'application/json');
  });

  it('switches to text/event-stream on the first notification and ends with the response as the last event', async () => {
    const response = await serve((channel) => {
      channel.notify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 't', progress: 1 } });
      channel.notify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 't', progress: 2 } });
      assert.equal(channel.isStreaming, true);
      channel.endStream('{"jsonrpc":"2.0","id":1,"result":{}}');
    });
    assert.equal(response.headers.get('content-type'), 'text/event-stream');
    assert.equal(response.headers.get('cache-control'), 'no-cache, no-transform');
    const events = (await response.text()).split('\n\n').filter(Boolean);
    assert.deepEqual(events, [
      'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":1}}',
      'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":2}}',
      'event: message\ndata: {"jsonrpc":"2.0","id":1,"result":{}}',
    ]);
  });
});

describe('MCP progress notifications', () => {
  it('streams progress over SSE to an SDK client that sent a progressToken, then the result', async () => {
    const progress: Progress[] = [];
    const result = await client.callTool({ name: 'count_slowly', arguments: {} }, undefined, { onprogress: (p) => progress.push(p) });
    assert.deepEqual(result.structuredContent, { counted: 3 });
    assert.deepEqual(
      progress,
      [1, 2, 3].map((i) => ({ progress: i, total: 3, message: `step ${i}` })),
    );
  });

  it('answers plain JSON when the call carries no progressToken, whatever the tool reports', async () => {
    const response = await postMcp(
      server.mcpUrl,
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'count_slowly', arguments: {} } },
      server.tokens.read,
    );
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    const body = (await response.json()) as { result: { structuredContent: unknown } };
    assert.deepEqual(body.result.structuredContent, { counted: 3 });
  });

  it('answers plain JSON to a progressToken when the tool reports no progress', async () => {
    const response = await postMcp(
      server.mcpUrl,
      {
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'get_session_context', arguments: {}, _meta: { progressToken: 'p1' } },
      },
      server.tokens.read,
    );
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  });
});

describe('MCP cancellation', () => {
  it('aborts the running call when the SDK client cancels it (notifications/cancelled) and audits it as cancelled', async () => {
    const controller = new AbortController();
    const call = client.callTool({ name: 'wait_for_abort', arguments: { key: 'sdk' } }, undefined, { signal: controller.signal });
    await until(() => seen.get('sdk')?.includes('started') ?? false);
    controller.abort('user pressed stop');
    await assert.rejects(call);
    await until(() => (seen.get('sdk')?.length ?? 0) > 1);
    assert.equal(seen.get('sdk')?.[1], 'aborted: user pressed stop', 'aborted by notifications/cancelled, with its reason');
    await server.audit.flush();
    const row = await server.database.db
      .selectFrom('audit_log')
      .select('outcome')
      .where('operation', '=', 'wait_for_abort')
      .orderBy('id', 'desc')
      .executeTakeFirst();
    assert.equal(row?.outcome, 'error:cancelled');
  });

  it('ignores a cancellation sent by another principal, and honours the owner’s', async () => {
    const request = { jsonrpc: '2.0', id: 77, method: 'tools/call', params: { name: 'wait_for_abort', arguments: { key: 'owner' } } };
    const pending = postMcp(server.mcpUrl, request, server.tokens.read);
    await until(() => seen.get('owner')?.includes('started') ?? false);
    const cancel = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 77, reason: 'not yours' } };
    assert.equal((await postMcp(server.mcpUrl, cancel, server.tokens.readWrite)).status, 202);
    await sleep(100);
    assert.deepEqual(seen.get('owner'), ['started']);
    assert.equal((await postMcp(server.mcpUrl, { ...cancel, params: { requestId: 77, reason: 'mine' } }, server.tokens.read)).status, 202);
    const body = (await (await pending).json()) as { id: number; error: { code: number; message: string } };
    assert.deepEqual(seen.get('owner'), ['started', 'aborted: mine']);
    assert.equal(body.id, 77);
    assert.match(body.error.message, /cancelled/);
  });

  it('aborts the running call when the HTTP client disconnects', async () => {
    const controller = new AbortController();
    const request = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'wait_for_abort', arguments: { key: 'gone' } } };
    const pending = postMcp(server.mcpUrl, request, server.tokens.read, {}).catch(() => undefined);
    void pending;
    const response = fetch(server.mcpUrl, {
      method: 'POST',
      signal: controller.signal,
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${server.tokens.read}`,
      },
      body: JSON.stringify({ ...request, params: { ...request.params, arguments: { key: 'hangup' } } }),
    }).catch(() => undefined);
    await until(() => seen.get('hangup')?.includes('started') ?? false);
    controller.abort();
    await response;
    await until(() => (seen.get('hangup')?.length ?? 0) > 1);
    assert.equal(seen.get('hangup')?.[1], 'aborted: the client disconnected');
    // The other call, still connected, runs on.
    assert.deepEqual(seen.get('gone'), ['started']);
  });
});
