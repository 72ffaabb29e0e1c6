import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { sql } from 'kysely';
import { call, startLakehouseHarness, type LakehouseHarness } from './harness.js';
import { connectClient } from '../../helpers/mcp.js';

// Every SQL error has the same fields on every engine (DuckDB for the built-in connections, PostgreSQL for
// external ones) and every path (query_lakehouse, validate_sql, explain_sql, insights, REST): the position
// in the SQL sent, its line and column, and the engine's hint.

let h: LakehouseHarness;
let writer: Client;
before(async () => {
  h = await startLakehouseHarness({ warehouse: true });
  await sql
    .raw(`CREATE TABLE ${h.env.a.schema}.orders AS SELECT g AS id, g * 10 AS amount FROM generate_series(1, 5) g`)
    .execute(h.database.db);
  writer = await connectClient(h.servers.a.mcpUrl, h.servers.a.tokens.readWrite);
});
after(async () => {
  await writer?.close();
  await h?.close();
});

interface Spot {
  position?: number;
  line?: number;
  column?: number;
  hint?: string;
}

/** A failed tool call's code, message and SQL spot (`_meta["lakehouse-mcp/error"]`). */
async function failure(client: Client, name: string, args: Record<string, unknown>): Promise<Spot & { code: string; message: string }> {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  assert.equal(result.isError, true, `${name} should have failed: ${JSON.stringify(result.structuredContent)}`);
  const meta = (result._meta as Record<string, Spot & { code: string }>)['lakehouse-mcp/error']!;
  const text = result.content.find((c) => c.type === 'text');
  return { ...meta, message: text?.type === 'text' ? text.text : '' };
}

// A misspelt column on line 3, column 3, behind a leading comment (PostgreSQL counts from the statement).
const ENGINES = [
  {
    engine: 'DuckDB',
    connection: 'sample',
    sql: '-- misspelt\nSELECT event,\n  evnt_id\nFROM events',
    misspelt: 'evnt_id',
    hint: /^Candidate bindings: .*event_id/,
  },
  {
    engine: 'PostgreSQL',
    connection: 'warehouse',
    sql: '-- misspelt\nSELECT id,\n  amout\nFROM orders',
    misspelt: 'amout',
    hint: /^Perhaps you meant to reference the column "orders.amount"/,
  },
] as const;
const spotOf = (value: Spot) => ({ position: value.position, line: value.line, column: value.column });

for (const { engine, connection, sql: text, misspelt, hint } of ENGINES) {
  describe(`SQL errors on ${engine}`, () => {
    const SPOT = { position: text.indexOf(misspelt) + 1, line: 3, column: 3 };
    it('query_lakehouse gives the position, line, column and hint, as fields and in the message', async () => {
      const error = await failure(h.clients.a, 'query_lakehouse', { connection, sql: text });
      assert.equal(error.code, 'sql_error');
      assert.deepEqual(spotOf(error), SPOT);
      assert.match(error.hint ?? '', hint);
      assert.ok(error.message.includes(error.hint!), error.message);
      assert.match(error.message, /\(at line 3, column 3\)$/);
    });

    it('validate_sql gives the same fields', async () => {
      const result = await call(h.clients.a, 'validate_sql', { connection, sql: text });
      assert.equal(result.valid, false);
      const problem = result.errors[0]!;
      assert.deepEqual(spotOf(problem), SPOT);
      assert.match(problem.hint ?? '', hint);
    });

    it('explain_sql gives the same fields', async () => {
      const error = await failure(h.clients.a, 'explain_sql', { connection, sql: text });
      assert.deepEqual(spotOf(error), SPOT);
      assert.match(error.hint ?? '', hint);
    });

    it('create_insight gives the same fields, and saves nothing', async () => {
      const title = `Misspelt on ${engine}`;
      const error = await failure(writer, 'create_insight', { title, sql: text, connection, chart: { kind: 'table' } });
      assert.equal(error.code, 'sql_error');
      assert.deepEqual(spotOf(error), SPOT);
      assert.match(error.hint ?? '', hint);
      const listed = await call(h.clients.a, 'list_insights', {});
      assert.equal(
        listed.items.some((i) => i.title === title),
        false,
      );
    });

    it('the REST problem document gives the same fields', async () => {
      const response = await fetch(`${h.servers.a.url}/api/v1/lakehouse/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${h.servers.a.tokens.read}` },
        body: JSON.stringify({ connection, sql: text }),
      });
      assert.equal(response.status, 400);
      const problem = (await response.json()) as Spot & { code: string; detail: string };
      assert.equal(problem.code, 'sql_error');
      assert.deepEqual(spotOf(problem), SPOT);
      assert.match(problem.hint ?? '', hint);
      assert.match(problem.detail, /\(at line 3, column 3\)$/);
    });
  });
}

describe('SQL refusals of the guard', () => {
  it('a second statement is pointed at by line and column on PostgreSQL too', async () => {
    const error = await failure(h.clients.a, 'query_lakehouse', { connection: 'warehouse', sql: 'SELECT 1;\n  SELECT 2' });
    assert.equal(error.code, 'sql_refused');
    assert.deepEqual(spotOf(error), { position: 13, line: 2, column: 3 });
    assert.ok(error.hint);
  });
});
