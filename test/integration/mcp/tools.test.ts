import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { addMember, createUser } from '../../../src/db/directory.js';
import type { ToolIO, ToolName } from '../../../src/generated/handlers.js';
import { toolOutputValidators } from '../../../src/generated/tool-output-validators.js';
import { toolCatalogue, type ToolDefinition } from '../../../src/generated/tools.js';
import { resultText } from '../../../src/mcp/result-text.js';
import { generatedTools, type ToolRegistry } from '../../../src/operations/tool-registry.js';
import { connectClient, postMcp, startMcpTestServer, type McpTestServer } from '../../helpers/mcp.js';
import { PASSWORD, userTokens } from '../../helpers/oauth.js';

// Tools over MCP, driven by the SDK's Client: the catalogue by scope, structured results that match each
// tool's output schema, errors as isError results or JSON-RPC errors, step-up on a missing scope, audit.

/** A tool that fails with an unexpected error, to check that internals never reach the client. */
const explodingTool: ToolDefinition = {
  name: 'explode' as ToolName,
  title: 'Explode',
  description: 'Fails with an unexpected error (test double).',
  scope: 'read',
  annotations: { readOnlyHint: true },
  inputSchema: { type: 'object', properties: {}, additionalProperties: false },
  outputSchema: { type: 'object' },
  served: { inputSchema: { type: 'object', properties: {} } },
  rest: { method: 'GET', path: '/api/v1/explode', operationId: 'explode' },
};
const tools: ToolRegistry = {
  tools: [...toolCatalogue, explodingTool],
  validate: (name, input, locate) => {
    if (name !== 'explode') generatedTools.validate(name, input, locate);
  },
  run: (name, input, ctx) =>
    name === 'explode'
      ? Promise.reject(new Error('connection to 10.0.0.5 refused, password=hunter2'))
      : generatedTools.run(name, input, ctx),
};

let server: McpTestServer;
let reader: Client;
let writer: Client;
before(async () => {
  server = await startMcpTestServer({ tools });
  reader = await connectClient(server.mcpUrl, server.tokens.read);
  writer = await connectClient(server.mcpUrl, server.tokens.readWrite);
});
after(async () => {
  await reader?.close();
  await writer?.close();
  await server?.close();
});

/** Checks the invariant of every successful call: structuredContent matches the output schema, and the text item renders it. */
function structured<N extends ToolName>(name: N, result: CallToolResult): ToolIO[N]['output'] {
  assert.notEqual(result.isError, true, JSON.stringify(result.content));
  const validate = toolOutputValidators[name];
  assert.ok(validate(result.structuredContent), `${name} output breaks its schema: ${JSON.stringify(validate.errors)}`);
  const text = result.content.find((c) => c.type === 'text');
  assert.ok(text && text.type === 'text');
  assert.equal(text.text, resultText(result.structuredContent));
  return result.structuredContent;
}

function errorMeta(result: CallToolResult): { code: string; violations?: { location: string; message: string }[] } {
  assert.equal(result.isError, true);
  return (
    (result._meta as Record<string, { code: string; violations?: { location: string; message: string }[] }>)['lakehouse-mcp/error'] ??
    assert.fail('no error code in _meta')
  );
}

describe('MCP tools: the catalogue', () => {
  it('initializes with the SDK client: server info, tools, logging, prompts, resources and completions', () => {
    assert.equal(reader.getServerVersion()?.name, 'lakehouse-mcp');
    assert.deepEqual(reader.getServerCapabilities(), {
      tools: { listChanged: false },
      logging: {},
      prompts: {},
      resources: {},
      completions: {},
    });
    assert.match(reader.getInstructions() ?? '', /get_session_context/);
  });

  it('lists the tools a read token may call, with schemas and annotations, without internal keys', async () => {
    const { tools: listed } = await reader.listTools();
    const expected = toolCatalogue.filter((t) => t.scope === 'read').map((t) => t.name);
    assert.deepEqual(
      listed
        .map((t) => t.name)
        .filter((n) => n !== 'explode')
        .sort(),
      [...expected].sort(),
    );
    for (const tool of listed) {
      assert.ok(!('scope' in tool) && !('rest' in tool), `${tool.name} leaks internal keys`);
      assert.equal(tool.inputSchema.type, 'object');
      assert.ok(tool.description);
    }
    // Output schemas only where clients gain from them: the tabular results.
    assert.deepEqual(
      listed
        .filter((t) => t.outputSchema)
        .map((t) => t.name)
        .sort(),
      ['query_lakehouse', 'query_semantic_model'],
    );
    const session = listed.find((t) => t.name === 'get_session_context');
    assert.deepEqual(session?.annotations, {
      readOnlyHint: true,
      idempotentHint: true,
      openWorldHint: false,
    });
  });

  it('lists no read tool to a token without the read scope', async () => {
    const response = await postMcp(server.mcpUrl, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, server.tokens.writeOnly);
    const body = (await response.json()) as { result: { tools: { name: string }[] } };
    const writeTools = toolCatalogue.filter((t) => t.scope === 'write').map((t) => t.name);
    assert.ok(writeTools.length > 0);
    assert.deepEqual(body.result.tools.map((t) => t.name).sort(), writeTools.sort());
  });
});

describe('MCP tools: calls', () => {
  it('get_session_context answers the token’s organization, environment, subject, client, scopes and protocol version', async () => {
    const out = structured(
      'get_session_context',
      (await writer.callTool({ name: 'get_session_context', arguments: {} })) as CallToolResult,
    );
    const p = server.principals.readWrite;
    assert.deepEqual(out.organization, { id: server.organization.id, name: 'acme' });
    assert.deepEqual(out.environment, { id: server.environment.id, name: 'production' });
    // The token's subject is the read+write service account, which is also its client.
    assert.deepEqual(out.subject, { kind: 'service', id: `service:${p.clientId}`, name: `tests read+write :${server.port}` });
    assert.deepEqual(out.client, { id: p.clientId, name: `tests read+write :${server.port}` });
    assert.deepEqual(out.scopes, ['read', 'write']);
    assert.equal(out.protocol_version, '2025-11-25');
    assert.equal(out.holds.connections, 2);
  });

  it('query_lakehouse answers 100 rows by default, as CSV text with the types once and how to get more', async () => {
    const result = (await reader.callTool({
      name: 'query_lakehouse',
      arguments: { sql: 'SELECT range AS n, range % 3 AS bucket FROM range(1000)', connection: 'sample' },
    })) as CallToolResult;
    const out = structured('query_lakehouse', result);
    assert.equal(out.row_count, 100);
    assert.equal(out.truncated, true);
    assert.equal(out.next_offset, 100);
    const text = result.content[0]?.type === 'text' ? result.content[0].text : '';
    assert.match(text, /^row_count: 100\ntruncated: true\nnext_offset: 100\n/);
    assert.match(
      text,
      /note: more rows exist than shown; continue with offset: 100; every row: call again with export: "csv" \(or "parquet"\)\nrows \(CSV, 100\):\nn BIGINT,bucket BIGINT\n0,0\n1,1\n/,
    );
    assert.ok(text.length < JSON.stringify(out).length, 'the text is smaller than the JSON');
  });

  it('get_session_context answers a signed-in user as the subject and the registered client as the client', async () => {
    const { db } = server.database;
    const user = await createUser(db, 'ada@example.com', PASSWORD);
    await addMember(db, user.email, { organization: 'acme', environment: 'production' }, 'reader');
    const { accessToken, clientId } = await userTokens({ issuer: server.config.issuerUrl, url: server.url }, { email: user.email });
    const response = await postMcp(
      server.mcpUrl,
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_session_context', arguments: {} } },
      accessToken,
    );
    const body = (await response.json()) as { result: CallToolResult };
    const out = structured('get_session_context', body.result);
    assert.deepEqual(out.subject, { kind: 'user', id: `user:${user.id}`, name: 'ada@example.com' });
    assert.deepEqual(out.client, { id: clientId, name: 'Test Client' });
    assert.deepEqual(out.environment, { id: server.environment.id, name: 'production' });
    assert.deepEqual(out.scopes, ['read'], 'a reader’s role caps the scopes');
  });

  it('search_docs and get_doc answer structured content that matches their output schemas', async () => {
    const found = structured(
      'search_docs',
      (await reader.callTool({ name: 'search_docs', arguments: { query: 'connection' } })) as CallToolResult,
    );
    assert.ok(found.items.length > 0, 'the docs mention connections');
    const first = found.items[0];
    assert.ok(first);
    const page = structured('get_doc', (await reader.callTool({ name: 'get_doc', arguments: { slug: first.slug } })) as CallToolResult);
    assert.equal(page.slug, first.slug);
  });

  it('answers an error raised inside a tool as an isError result with its message and code', async () => {
    const result = (await reader.callTool({ name: 'get_doc', arguments: { slug: 'no-such-page' } })) as CallToolResult;
    assert.equal(errorMeta(result).code, 'not_found');
    assert.deepEqual(result.content, [{ type: 'text', text: 'No documentation page "no-such-page". Find pages with search_docs.' }]);
    assert.equal(result.structuredContent, undefined);
  });

  it('answers input that fails its schema with an isError result listing each violation (SEP-1303)', async () => {
    const result = (await reader.callTool({ name: 'search_docs', arguments: { query: '', limit: 500, colour: 'red' } })) as CallToolResult;
    const meta = errorMeta(result);
    assert.equal(meta.code, 'validation_failed');
    assert.deepEqual(meta.violations?.map((v) => v.location).sort(), ['input/colour', 'input/limit', 'input/query']);
    const text = JSON.stringify(result.content);
    for (const field of ['input/colour', 'input/limit', 'input/query']) assert.ok(text.includes(field), `${field} missing from ${text}`);
  });

  it('answers an unknown tool with JSON-RPC error -32602', async () => {
    await assert.rejects(reader.callTool({ name: 'drop_database', arguments: {} }), (error: unknown) => {
      assert.ok(error instanceof McpError);
      assert.equal(error.code, -32602);
      assert.match(error.message, /Unknown tool/);
      return true;
    });
  });

  it('answers an unexpected failure as isError "internal error" without internals', async () => {
    const result = (await reader.callTool({ name: 'explode', arguments: {} })) as CallToolResult;
    assert.equal(errorMeta(result).code, 'internal_error');
    const text = JSON.stringify(result);
    assert.match(text, /Internal error/);
    assert.ok(!text.includes('hunter2') && !text.includes('10.0.0.5'), text);
  });

  it('refuses a tool whose scope the token lacks with HTTP 403 insufficient_scope and a step-up challenge', async () => {
    const response = await postMcp(
      server.mcpUrl,
      { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'get_session_context', arguments: {} } },
      server.tokens.writeOnly,
    );
    assert.equal(response.status, 403);
    const challenge = response.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /^Bearer /);
    assert.ok(challenge.includes('error="insufficient_scope"'), challenge);
    // What the call needs plus what the token has, so that re-authorizing loses nothing.
    assert.ok(challenge.includes('scope="read write"'), challenge);
    assert.ok(challenge.includes(`resource_metadata="${server.url}/.well-known/oauth-protected-resource/v1"`), challenge);
    const body = (await response.json()) as { id: number; error: { code: number; message: string } };
    assert.equal(body.id, 9);
    assert.match(body.error.message, /read/);
  });
});

describe('MCP tools: audit', () => {
  it('writes one audit row per tools/call with actor, client, environment, tool, outcome and duration', async () => {
    await server.audit.flush();
    const { last } = await server.database.db
      .selectFrom('audit_log')
      .select((eb) => eb.fn.coalesce(eb.fn.max('id'), eb.lit(0)).as('last'))
      .executeTakeFirstOrThrow();
    const marker = await connectClient(server.mcpUrl, server.tokens.readWrite);
    const p = server.principals.readWrite;
    await marker.callTool({ name: 'get_session_context', arguments: {} });
    await marker.callTool({ name: 'get_doc', arguments: { slug: 'missing-page' } });
    await marker.callTool({ name: 'search_docs', arguments: {} });
    await marker.callTool({ name: 'nope', arguments: {} }).catch(() => undefined);
    await postMcp(
      server.mcpUrl,
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_doc', arguments: { slug: 'x' } } },
      server.tokens.writeOnly,
    );
    await marker.close();
    await server.audit.flush();

    const rows = await server.database.db.selectFrom('audit_log').selectAll().where('id', '>', Number(last)).orderBy('id').execute();
    assert.deepEqual(
      rows.map((r) => [r.operation, r.outcome]),
      [
        ['get_session_context', 'ok'],
        ['get_doc', 'error:not_found'],
        ['search_docs', 'invalid_input'],
        ['nope', 'error:unknown_tool'],
        ['get_doc', 'forbidden'],
      ],
    );
    const first = rows[0];
    assert.ok(first);
    assert.equal(first.actor, p.subject);
    assert.equal(first.client_id, p.clientId);
    assert.equal(first.organization_id, p.organizationId);
    assert.equal(first.environment_id, p.environmentId);
    assert.equal(first.sql, null);
    assert.ok(first.duration_ms >= 0);
  });
});
