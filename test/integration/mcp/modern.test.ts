import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ToolName } from '../../../src/generated/handlers.js';
import type { ToolDefinition } from '../../../src/generated/tools.js';
import { generatedTools, type ToolRegistry } from '../../../src/operations/tool-registry.js';
import { startMcpTestServer, type McpTestServer } from '../../helpers/mcp.js';

// MCP 2026-07-28 on /v1 beside the initialize-based revisions: era selection, server/discover, the envelope
// and header checks, the method table, per-request logging and subscriptions/listen, over raw HTTP.

const VERSION = '2026-07-28';
const META = {
  [`io.modelcontextprotocol/protocolVersion`]: VERSION,
  [`io.modelcontextprotocol/clientCapabilities`]: {},
  [`io.modelcontextprotocol/clientInfo`]: { name: 'modern-test', version: '1.0.0' },
};

/** A test tool that logs at info and debug and reports progress (never part of the server). */
const chatty: ToolDefinition = {
  name: 'chatty' as ToolName,
  title: 'Chatty',
  description: 'Logs and reports progress (test double).',
  scope: 'read',
  annotations: { readOnlyHint: true },
  inputSchema: { type: 'object', properties: {} },
  outputSchema: { type: 'object' },
  served: { inputSchema: { type: 'object', properties: {} } },
  rest: { method: 'GET', path: '/api/v1/chatty', operationId: 'chatty' },
};
const tools: ToolRegistry = {
  tools: [...generatedTools.tools, chatty],
  validate: (name, input, locate) => {
    if (name !== 'chatty') generatedTools.validate(name, input, locate);
  },
  run: async (name, input, ctx) => {
    if (name !== 'chatty') return generatedTools.run(name, input, ctx);
    ctx.clientLog('info', 'an info line');
    ctx.clientLog('debug', 'a debug line');
    ctx.progress(1, 1, 'done');
    return { said: 2 };
  },
};

let server: McpTestServer;
before(async () => {
  server = await startMcpTestServer({ tools });
});
after(() => server?.close());

interface Call {
  method: string;
  params?: Record<string, unknown>;
  /** `_meta` of the params; default META. */
  meta?: Record<string, unknown> | null;
  token?: string | null;
  headers?: Record<string, string | null>;
  id?: number | string;
}

interface Answer {
  status: number;
  headers: Headers;
  /** The JSON-RPC messages of the answer (one for JSON, every event of an SSE stream). */
  messages: Record<string, unknown>[];
  last: { result?: Record<string, unknown>; error?: { code: number; message: string; data?: unknown }; id?: unknown };
}

async function post(call: Call): Promise<Answer> {
  const meta = call.meta === undefined ? META : call.meta;
  const params = { ...call.params, ...(meta === null ? {} : { _meta: { ...meta, ...(call.params?._meta as object | undefined) } }) };
  const name = (call.params?.name ?? undefined) as string | undefined;
  const headers: Record<string, string | null> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': VERSION,
    'mcp-method': call.method,
    ...(name === undefined ? {} : { 'mcp-name': name }),
    ...(call.token === null ? {} : { authorization: `Bearer ${call.token ?? server.tokens.readWrite}` }),
    ...call.headers,
  };
  const response = await fetch(server.mcpUrl, {
    method: 'POST',
    headers: Object.fromEntries(Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== null)),
    body: JSON.stringify({ jsonrpc: '2.0', id: call.id ?? 1, method: call.method, params }),
  });
  const text = await response.text();
  const messages = (response.headers.get('content-type') ?? '').startsWith('text/event-stream')
    ? text
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map((line) => JSON.parse(line.slice(6)) as Record<string, unknown>)
    : text
      ? [JSON.parse(text) as Record<string, unknown>]
      : [];
  return { status: response.status, headers: response.headers, messages, last: messages.at(-1) ?? {} };
}

const SERVER_INFO_KEY = 'io.modelcontextprotocol/serverInfo';

function assertModernResult(answer: Answer): Record<string, unknown> {
  assert.equal(answer.status, 200, JSON.stringify(answer.last));
  const result = answer.last.result;
  assert.ok(result, JSON.stringify(answer.last));
  assert.equal(result.resultType, 'complete');
  const info = (result._meta as Record<string, { name?: string; version?: string }> | undefined)?.[SERVER_INFO_KEY];
  assert.equal(info?.name, 'lakehouse-mcp');
  assert.match(info?.version ?? '', /^\d+\.\d+\.\d+/);
  return result;
}

function assertError(answer: Answer, status: number, code: number): void {
  assert.equal(answer.status, status, JSON.stringify(answer.last));
  assert.equal(answer.last.error?.code, code, JSON.stringify(answer.last));
}

describe('MCP 2026-07-28: era selection and server/discover', () => {
  it('serves a request with modern headers and _meta, with no initialize before it', async () => {
    const result = assertModernResult(await post({ method: 'server/discover' }));
    assert.deepEqual(result.supportedVersions, [VERSION]);
    assert.deepEqual(result.capabilities, {
      tools: {},
      logging: {},
      prompts: {},
      resources: {},
      completions: {},
      extensions: { 'io.modelcontextprotocol/tasks': {} },
    });
    assert.match(String(result.instructions), /get_session_context/);
    assert.equal(result.cacheScope, 'public');
    assert.ok(Number.isInteger(result.ttlMs) && (result.ttlMs as number) > 0);
    assert.equal(result.serverInfo, undefined);
  });

  it('answers server/discover without a token (as initialize), and 401s a bad token', async () => {
    assertModernResult(await post({ method: 'server/discover', token: null }));
    const forged = await post({ method: 'server/discover', token: 'not.a.token' });
    assert.equal(forged.status, 401);
    assert.match(forged.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  });

  it('answers everything else without a token with the same 401 challenge as the legacy path', async () => {
    const modern = await post({ method: 'tools/list', token: null });
    assert.equal(modern.status, 401);
    assert.equal(modern.last.error?.code, -32600);
    const legacy = await fetch(server.mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    assert.equal(legacy.status, 401);
    assert.equal(modern.headers.get('www-authenticate'), legacy.headers.get('www-authenticate'));
    assert.match(modern.headers.get('www-authenticate') ?? '', /resource_metadata=/);
  });

  it('keeps initialize as it was for legacy clients', async () => {
    const response = await fetch(server.mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'legacy', version: '1' } },
      }),
    });
    const body = (await response.json()) as { result: Record<string, unknown> };
    assert.equal(response.status, 200);
    assert.equal(body.result.protocolVersion, '2025-11-25');
    assert.equal(body.result.resultType, undefined);
    assert.deepEqual(body.result.capabilities, { tools: { listChanged: false }, logging: {}, prompts: {}, resources: {}, completions: {} });
  });
});

describe('MCP 2026-07-28: the envelope and the headers', () => {
  it('refuses an unsupported version with -32022, naming what is supported and what was asked', async () => {
    const answer = await post({
      method: 'server/discover',
      meta: { ...META, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' },
      headers: { 'mcp-protocol-version': '2099-01-01' },
    });
    assertError(answer, 400, -32022);
    assert.deepEqual(answer.last.error?.data, { supported: [VERSION], requested: '2099-01-01' });
  });

  it('refuses a modern request whose _meta lacks the version or the client capabilities with -32602', async () => {
    assertError(await post({ method: 'server/discover', meta: null }), 400, -32602);
    const { 'io.modelcontextprotocol/protocolVersion': _v, ...noVersion } = META;
    assertError(await post({ method: 'server/discover', meta: noVersion }), 400, -32602);
    const { 'io.modelcontextprotocol/clientCapabilities': _c, ...noCapabilities } = META;
    assertError(await post({ method: 'tools/list', meta: noCapabilities }), 400, -32602);
    // clientInfo is optional.
    const { 'io.modelcontextprotocol/clientInfo': _i, ...noInfo } = META;
    assertModernResult(await post({ method: 'tools/list', meta: noInfo }));
  });

  it('answers -32020 when MCP-Protocol-Version, Mcp-Method or Mcp-Name is missing, differs or is malformed', async () => {
    const cases: [string, Call][] = [
      ['version header differs from _meta', { method: 'server/discover', headers: { 'mcp-protocol-version': '2026-08-01' } }],
      ['no version header (claimed in _meta)', { method: 'server/discover', headers: { 'mcp-protocol-version': null } }],
      ['no Mcp-Method', { method: 'tools/list', headers: { 'mcp-method': null } }],
      ['Mcp-Method differs', { method: 'tools/list', headers: { 'mcp-method': 'prompts/list' } }],
      ['Mcp-Method in another case', { method: 'tools/list', headers: { 'mcp-method': 'TOOLS/LIST' } }],
      [
        'no Mcp-Name on tools/call',
        { method: 'tools/call', params: { name: 'get_session_context', arguments: {} }, headers: { 'mcp-name': null } },
      ],
      [
        'Mcp-Name differs',
        { method: 'tools/call', params: { name: 'get_session_context', arguments: {} }, headers: { 'mcp-name': 'search_docs' } },
      ],
      [
        'Mcp-Name is broken base64',
        { method: 'tools/call', params: { name: 'get_session_context', arguments: {} }, headers: { 'mcp-name': '=?base64?!!?=' } },
      ],
    ];
    for (const [name, call] of cases) {
      const answer = await post(call);
      assert.equal(answer.status, 400, `${name}: ${JSON.stringify(answer.last)}`);
      assert.equal(answer.last.error?.code, -32020, `${name}: ${JSON.stringify(answer.last)}`);
    }
  });

  it('decodes the =?base64?…?= form of Mcp-Name before comparing, and matches header names in any case', async () => {
    const encoded = `=?base64?${Buffer.from('get_session_context').toString('base64')}?=`;
    assertModernResult(
      await post({ method: 'tools/call', params: { name: 'get_session_context', arguments: {} }, headers: { 'mcp-name': encoded } }),
    );
    assertModernResult(await post({ method: 'tools/list', headers: { 'mcp-method': null, 'MCP-METHOD': 'tools/list' } }));
  });
});

describe('MCP 2026-07-28: transport errors', () => {
  it('answers them with the standard JSON-RPC codes, never the legacy -32000 range', async () => {
    const get = await fetch(server.mcpUrl, { headers: { 'mcp-protocol-version': VERSION, accept: 'text/event-stream' } });
    assert.equal(get.status, 405);
    assert.equal(((await get.json()) as { error: { code: number } }).error.code, -32600);
    const noAccept = await post({ method: 'tools/list', headers: { accept: 'application/json' } });
    assertError(noAccept, 406, -32600);
    const forged = await post({ method: 'tools/list', token: 'forged' });
    assertError(forged, 401, -32600);
    const wrongType = await fetch(server.mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', accept: 'application/json, text/event-stream', 'mcp-protocol-version': VERSION },
      body: '{}',
    });
    assert.equal(wrongType.status, 415);
    assert.equal(((await wrongType.json()) as { error: { code: number } }).error.code, -32600);
  });
});

describe('MCP 2026-07-28: the method table', () => {
  it('answers 404 with -32601 to removed and unknown methods, initialize with modern headers included', async () => {
    for (const method of ['ping', 'logging/setLevel', 'initialize', 'resources/subscribe', 'no/such']) {
      assertError(await post({ method }), 404, -32601);
    }
    assertError(await post({ method: 'initialize', meta: null }), 404, -32601);
  });

  it('serves tools/list per scope as a cacheable private list, the same tools as the legacy list', async () => {
    const read = assertModernResult(await post({ method: 'tools/list', token: server.tokens.read }));
    const all = assertModernResult(await post({ method: 'tools/list' }));
    assert.equal(read.cacheScope, 'private');
    assert.ok((read.ttlMs as number) > 0);
    const names = (result: Record<string, unknown>) => (result.tools as { name: string }[]).map((t) => t.name);
    assert.ok(names(read).length < names(all).length);
    const legacy = await fetch(server.mcpUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
        authorization: `Bearer ${server.tokens.read}`,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    assert.deepEqual(((await legacy.json()) as { result: { tools: unknown } }).result.tools, read.tools);
  });

  it('calls a tool: structuredContent and the text, resultType and serverInfo; a failure keeps its code', async () => {
    const ok = assertModernResult(await post({ method: 'tools/call', params: { name: 'get_session_context', arguments: {} } }));
    assert.deepEqual((ok.structuredContent as { scopes: string[] }).scopes, ['read', 'write']);
    const failed = assertModernResult(await post({ method: 'tools/call', params: { name: 'get_doc', arguments: { slug: 'nope' } } }));
    assert.equal(failed.isError, true);
    assert.equal((failed._meta as Record<string, { code: string }>)['lakehouse-mcp/error']?.code, 'not_found');
    const unknown = await post({ method: 'tools/call', params: { name: 'no_such_tool', arguments: {} } });
    assertError(unknown, 200, -32602);
  });

  it('serves prompt, resource and template lists and reads with cache hints, and -32602 for a missing one', async () => {
    for (const [method, key, scope] of [
      ['prompts/list', 'prompts', 'public'],
      ['resources/list', 'resources', 'private'],
      ['resources/templates/list', 'resourceTemplates', 'public'],
    ] as const) {
      const result = assertModernResult(await post({ method }));
      assert.ok((result[key] as unknown[]).length > 0, method);
      assert.equal(result.cacheScope, scope);
      assert.ok(Number.isInteger(result.ttlMs) && (result.ttlMs as number) > 0);
    }
    const uri = 'lakehouse://semantic-models/product_events';
    const read = assertModernResult(await post({ method: 'resources/read', params: { uri }, headers: { 'mcp-name': uri } }));
    assert.equal(read.cacheScope, 'private');
    assert.equal((read.contents as { uri: string }[])[0]?.uri, uri);
    const missing = await post({
      method: 'resources/read',
      params: { uri: 'lakehouse://nothing' },
      headers: { 'mcp-name': 'lakehouse://nothing' },
    });
    assert.equal(missing.last.error?.code, -32602);
    assert.deepEqual(missing.last.error?.data, { uri: 'lakehouse://nothing' });
  });
});

describe('MCP 2026-07-28: logging per request, progress and subscriptions/listen', () => {
  it('sends no notifications/message unless _meta names a log level, then those at or above it', async () => {
    const quiet = await post({ method: 'tools/call', params: { name: 'chatty', arguments: {} } });
    assertModernResult(quiet);
    assert.ok(!quiet.messages.some((m) => m.method === 'notifications/message'));

    const info = await post({
      method: 'tools/call',
      params: { name: 'chatty', arguments: {}, _meta: { 'io.modelcontextprotocol/logLevel': 'info', progressToken: 'p1' } },
    });
    assertModernResult(info);
    assert.equal(info.headers.get('content-type'), 'text/event-stream');
    const logged = info.messages.filter((m) => m.method === 'notifications/message').map((m) => (m.params as { data: string }).data);
    assert.deepEqual(logged, ['an info line']);
    assert.ok(info.messages.some((m) => m.method === 'notifications/progress'));

    const debug = await post({
      method: 'tools/call',
      params: { name: 'chatty', arguments: {}, _meta: { 'io.modelcontextprotocol/logLevel': 'debug' } },
    });
    assert.equal(debug.messages.filter((m) => m.method === 'notifications/message').length, 2);
  });

  it('refuses an unknown log level with -32602', async () => {
    const answer = await post({
      method: 'tools/call',
      params: { name: 'chatty', arguments: {}, _meta: { 'io.modelcontextprotocol/logLevel': 'loud' } },
    });
    assertError(answer, 400, -32602);
  });

  it('acknowledges subscriptions/listen first, honouring no notification types, and keeps the stream open', async () => {
    const controller = new AbortController();
    const response = await fetch(server.mcpUrl, {
      method: 'POST',
      signal: controller.signal,
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': VERSION,
        'mcp-method': 'subscriptions/listen',
        authorization: `Bearer ${server.tokens.read}`,
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 7,
        method: 'subscriptions/listen',
        params: { _meta: META, notifications: { toolsListChanged: true, resourceSubscriptions: ['x://y'] } },
      }),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/event-stream');
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const { value } = await reader.read();
    const first = new TextDecoder().decode(value);
    const event = JSON.parse(
      first
        .split('\n')
        .find((line) => line.startsWith('data: '))
        ?.slice(6) ?? '{}',
    ) as Record<string, unknown>;
    assert.deepEqual(event, {
      jsonrpc: '2.0',
      method: 'notifications/subscriptions/acknowledged',
      params: { _meta: { 'io.modelcontextprotocol/subscriptionId': 7 }, notifications: {} },
    });
    // Still open: nothing more arrives within a moment.
    const next = await Promise.race([reader.read().then(() => 'data'), new Promise((resolve) => setTimeout(() => resolve('open'), 300))]);
    assert.equal(next, 'open');
    controller.abort();

    const invalid = await post({ method: 'subscriptions/listen', params: {} });
    assertError(invalid, 200, -32602);
  });
});
