import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { toolCatalogue } from '../../../src/generated/tools.js';
import { connectClient, connectModernClient, startMcpTestServer, type McpTestServer } from '../../helpers/mcp.js';

// Real modern clients against /v1: the MCP SDK v2 client negotiating 2026-07-28 through its own OAuth flow,
// Claude Code's opening probe replayed byte for byte, and the SDK 1.x client still on the legacy path.

let server: McpTestServer;
before(async () => {
  server = await startMcpTestServer();
});
after(() => server?.close());

describe('the MCP SDK v2 client (@modelcontextprotocol/client)', () => {
  it('probes, negotiates 2026-07-28, gets its token by client_credentials, lists and calls tools', async () => {
    const client = await connectModernClient(server, 'sdk v2 client');
    try {
      assert.equal(client.getProtocolEra(), 'modern');
      assert.equal(client.getNegotiatedProtocolVersion(), '2026-07-28');
      assert.equal(client.getServerVersion()?.name, 'lakehouse-mcp');
      assert.ok(client.getServerCapabilities()?.tools);

      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((t) => t.name).sort(), toolCatalogue.map((t) => t.name).sort());
      const result = await client.callTool({ name: 'get_session_context', arguments: {} });
      const context = result.structuredContent as { environment: { name: string }; scopes: string[] };
      assert.equal(context.environment.name, server.environment.name);
      assert.deepEqual(context.scopes, ['read', 'write']);
      const search = await client.callTool({ name: 'search_docs', arguments: { query: 'semantic model', limit: 2 } });
      assert.ok(!search.isError, JSON.stringify(search));
    } finally {
      await client.close();
    }
  });

  it('fails to connect without a token, with the 401 the OAuth flow starts from', async () => {
    const client = new Client({ name: 'sdk-v2-anonymous', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    // server/discover answers without a token; the first call that needs one is refused.
    await client.connect(new StreamableHTTPClientTransport(new URL(server.mcpUrl)));
    try {
      assert.equal(client.getProtocolEra(), 'modern');
      await assert.rejects(client.listTools(), (error: Error) => /401|Unauthorized/i.test(`${error.message} ${JSON.stringify(error)}`));
    } finally {
      await client.close();
    }
  });
});

describe("Claude Code's opening probe", () => {
  const probe = (token?: string) =>
    fetch(server.mcpUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'server/discover',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'server/discover',
        params: {
          _meta: {
            'io.modelcontextprotocol/protocolVersion': '2026-07-28',
            'io.modelcontextprotocol/clientInfo': { name: 'claude-code', version: '2.1.0' },
            'io.modelcontextprotocol/clientCapabilities': { roots: {}, elicitation: {} },
          },
        },
      }),
    });

  it('gets a valid discover result, with or without a token', async () => {
    for (const token of [undefined, server.tokens.read]) {
      const response = await probe(token);
      assert.equal(response.status, 200);
      const body = (await response.json()) as { id: number; result: { resultType: string; supportedVersions: string[] } };
      assert.equal(body.id, 0);
      assert.equal(body.result.resultType, 'complete');
      assert.deepEqual(body.result.supportedVersions, ['2026-07-28']);
    }
  });

  it('then gets the 401 challenge that starts OAuth discovery on its first call without a token', async () => {
    const response = await fetch(server.mcpUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/list',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/list',
        params: {
          _meta: {
            'io.modelcontextprotocol/protocolVersion': '2026-07-28',
            'io.modelcontextprotocol/clientCapabilities': {},
          },
        },
      }),
    });
    assert.equal(response.status, 401);
    const challenge = response.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /^Bearer /);
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)?.[1];
    assert.ok(metadataUrl, challenge);
    const metadata = (await (await fetch(metadataUrl)).json()) as { resource: string; authorization_servers: string[] };
    assert.equal(metadata.resource, server.mcpUrl);
  });
});

describe('the MCP SDK 1.x client', () => {
  it('still connects on the legacy path and calls a tool', async () => {
    const client = await connectClient(server.mcpUrl, server.tokens.read);
    try {
      assert.equal(client.getServerVersion()?.name, 'lakehouse-mcp');
      const result = await client.callTool({ name: 'get_session_context', arguments: {} });
      assert.equal((result.structuredContent as { environment: { name: string } }).environment.name, server.environment.name);
    } finally {
      await client.close();
    }
  });
});
