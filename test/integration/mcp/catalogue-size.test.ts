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
    for (const keyword of ['"pattern"', '"maxLength"', '"examples"', '"allOf"']) assert.ok(!text.includes(keyword), `${keyword} served`);
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
