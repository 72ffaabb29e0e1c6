import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { toolCatalogue } from '../../../src/generated/tools.js';
import { CATALOGUE_LIMITS, ToolCatalogue } from '../../../src/mcp/tool-catalogue.js';
import { postMcp, startMcpTestServer, type McpTestServer } from '../../helpers/mcp.js';

// Clients put every tool's name, description and input schema into the model's context on every turn: the
// default catalogue stays inside the limits of CATALOGUE_LIMITS, measured as served.

let server: McpTestServer;
before(async () => {
  server = await startMcpTestServer();
});
after(async () => {
  await server?.close();
});

const bytes = (text: string) => Buffer.byteLength(text, 'utf8');

describe('MCP tools: the catalogue stays light', () => {
  it('serves descriptions plus input schemas and the whole tools/list within the limits', async () => {
    const response = await postMcp(server.mcpUrl, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, server.tokens.readWrite);
    const body = await response.text();
    const { result } = JSON.parse(body) as { result: { tools: { description: string; inputSchema: unknown }[] } };
    assert.equal(result.tools.length, toolCatalogue.length, 'a token with every scope sees every tool');
    const descriptionsAndInputs = result.tools.reduce((sum, t) => sum + bytes(t.description) + bytes(JSON.stringify(t.inputSchema)), 0);
    const listBytes = bytes(JSON.stringify(result));
    assert.ok(
      descriptionsAndInputs <= CATALOGUE_LIMITS.descriptionsAndInputSchemasBytes,
      `descriptions + input schemas: ${descriptionsAndInputs} bytes > ${CATALOGUE_LIMITS.descriptionsAndInputSchemasBytes}`,
    );
    assert.ok(listBytes <= CATALOGUE_LIMITS.toolsListBytes, `tools/list: ${listBytes} bytes > ${CATALOGUE_LIMITS.toolsListBytes}`);
  });

  it('keeps the 2026-07-28 list result (with cache hints and server identity) within the limit too', () => {
    const catalogue = new ToolCatalogue(toolCatalogue, {
      ttlMs: 60_000,
      _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'x', version: '1' } },
    });
    const listBytes = bytes(catalogue.modernListResultJson(new Set(['read', 'write'])));
    assert.ok(listBytes <= CATALOGUE_LIMITS.toolsListBytes, `tools/list (2026-07-28): ${listBytes} bytes`);
  });

  it('serves no validation-only keyword, while calls are still validated against the whole schema', async () => {
    const response = await postMcp(server.mcpUrl, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, server.tokens.readWrite);
    const text = await response.text();
    for (const keyword of ['"pattern"', '"maxLength"', '"examples"', '"allOf"', '"format":"uuid"', '"maximum":2147483647']) {
      assert.ok(!text.includes(keyword), `${keyword} served`);
    }
    const notAnId = await postMcp(
      server.mcpUrl,
      { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'view_insight', arguments: { id: 'not-a-uuid' } } },
      server.tokens.read,
    );
    const rejected = (await notAnId.json()) as { result: { isError: boolean; content: { text: string }[] } };
    assert.equal(rejected.result.isError, true, 'an id that is not a uuid is still refused');
    assert.match(rejected.result.content[0]?.text ?? '', /uuid/);
    const tooLong = await postMcp(
      server.mcpUrl,
      {
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'query_lakehouse', arguments: { sql: 'SELECT 1', connection: 'No Such' } },
      },
      server.tokens.read,
    );
    const answer = (await tooLong.json()) as { result: { isError: boolean; content: { text: string }[] } };
    assert.equal(answer.result.isError, true);
    assert.match(answer.result.content[0]?.text ?? '', /connection/);
  });
});

describe('MCP tools: a URL that narrows the catalogue', () => {
  const list = async (query: string, token: string) => {
    const response = await postMcp(`${server.mcpUrl}${query}`, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, token);
    return {
      status: response.status,
      body: (await response.json()) as { result?: { tools: { name: string }[] }; error?: { code: number; message: string } },
    };
  };

  it('lists only the named groups (and get_session_context), and read_only hides write tools whatever the token', async () => {
    const sql = await list('?tools=sql', server.tokens.readWrite);
    assert.deepEqual(sql.body.result?.tools.map((t) => t.name).sort(), [
      'cancel_query_job',
      'explain_sql',
      'get_connection',
      'get_session_context',
      'list_connections',
      'list_events',
      'optimize_sql',
      'query_lakehouse',
      'start_query_job',
      'validate_sql',
      'view_query_job',
    ]);
    const readOnly = await list('?tools=assets,docs&read_only=true', server.tokens.readWrite);
    const names = readOnly.body.result?.tools.map((t) => t.name) ?? [];
    assert.ok(names.includes('view_insight') && names.includes('search_docs'));
    const writeTools = new Set<string>(toolCatalogue.filter((t) => t.scope === 'write').map((t) => t.name));
    assert.ok(!names.some((n) => writeTools.has(n)), `write tools listed: ${names.join(', ')}`);
    // A narrower URL never widens: a read token sees no write tool on any URL.
    const readToken = await list('?tools=assets', server.tokens.read);
    assert.ok(!readToken.body.result?.tools.some((t) => writeTools.has(t.name)));
  });

  it('refuses a call of a tool the URL hides, and changes nothing', async () => {
    const response = await postMcp(
      `${server.mcpUrl}?tools=sql&read_only=true`,
      {
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'create_memory', arguments: { content: 'x', type: 'semantic', importance: 0.5 } },
      },
      server.tokens.readWrite,
    );
    const body = (await response.json()) as { error?: { code: number; message: string } };
    assert.equal(body.error?.code, -32602);
    assert.match(body.error?.message ?? '', /not in the catalogue of this URL/);
    const memories = await postMcp(
      server.mcpUrl,
      { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'search_memories', arguments: { query: 'x' } } },
      server.tokens.read,
    );
    const found = (await memories.json()) as { result: { structuredContent: { items: unknown[] } } };
    assert.equal(found.result.structuredContent.items.length, 0, 'nothing was saved');
  });

  it('answers an unknown group with HTTP 400 and -32602 naming the groups', async () => {
    const { status, body } = await list('?tools=sql,everything', server.tokens.read);
    assert.equal(status, 400);
    assert.equal(body.error?.code, -32602);
    assert.match(body.error?.message ?? '', /groups are sql, semantic, assets, docs/);
  });
});
