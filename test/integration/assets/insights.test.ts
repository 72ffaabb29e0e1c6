import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { PNG } from 'pngjs';
import { assertReaderRefused, call, callError, startAssetHarness, type AssetHarness } from './harness.js';

let h: AssetHarness;
before(async () => {
  h = await startAssetHarness();
});
after(() => h.close());

const DAILY = {
  title: 'Sessions per day by device',
  description: 'Daily sessions of users above an id',
  sql: "SELECT date_trunc('day', started_at) AS day, device, count(*) AS sessions FROM sessions WHERE user_id > $1 GROUP BY 1, 2 ORDER BY 1, 2",
  connection: 'sample',
  parameters: [{ name: 'min_user', type: 'integer' as const, default: 0 }],
  chart: { kind: 'line' as const, x: 'day', y: 'sessions', series: 'device' },
};

/** Decodes a PNG and counts pixels that are not (near) white. */
function inspectPng(base64: string): { width: number; height: number; inked: number; colors: number } {
  const png = PNG.sync.read(Buffer.from(base64, 'base64'));
  let inked = 0;
  const colors = new Set<number>();
  for (let i = 0; i < png.data.length; i += 4) {
    const [r, g, b] = [png.data[i]!, png.data[i + 1]!, png.data[i + 2]!];
    if (r < 240 || g < 240 || b < 240) inked++;
    colors.add((r << 16) | (g << 8) | b);
  }
  return { width: png.width, height: png.height, inked, colors: colors.size };
}

describe('insights', () => {
  it('saves an insight from a query and renders it as a PNG image content item with its data', async () => {
    const insight = await call(h.clients.a, 'create_insight', DAILY);
    assert.equal(insight.version, 1);
    assert.deepEqual(insight.parameters, DAILY.parameters);
    const result = (await h.clients.reader.callTool({
      name: 'render_insight',
      arguments: { id: insight.id, width: 640, height: 360 },
    })) as CallToolResult;
    assert.notEqual(result.isError, true, JSON.stringify(result.content));
    const out = result.structuredContent as {
      data: { columns: { name: string }[]; row_count: number };
      image: { width: number; height: number; data?: string; mime_type: string };
    };
    assert.deepEqual(
      out.data.columns.map((c) => c.name),
      ['day', 'device', 'sessions'],
    );
    assert.ok(out.data.row_count > 10);
    assert.equal(out.image.data, undefined, 'over MCP the PNG travels as a content item, not twice');
    const image = result.content.find((c) => c.type === 'image');
    assert.ok(image && image.type === 'image');
    assert.equal(image.mimeType, 'image/png');
    const png = inspectPng(image.data);
    assert.deepEqual([png.width, png.height], [640, 360]);
    assert.ok(png.inked > 2000, `${png.inked} inked pixels`);
    assert.ok(png.colors > 8, `${png.colors} colors: lines of several series, axes, text`);
  });

  it('binds parameters as values (never SQL text) and checks their types', async () => {
    const insight = await call(h.clients.a, 'create_insight', { ...DAILY, title: 'Param check', chart: { kind: 'number', y: 'sessions' } });
    const none = await call(h.clients.a, 'render_insight', {
      id: insight.id,
      parameters: { min_user: 999999999 },
      width: 300,
      height: 200,
    });
    assert.equal(none.data.row_count, 0);
    assert.equal(
      (await callError(h.clients.a, 'render_insight', { id: insight.id, parameters: { min_user: '1; DROP TABLE users' } })).code,
      'invalid_parameters',
    );
    assert.equal((await callError(h.clients.a, 'render_insight', { id: insight.id, parameters: { other: 1 } })).code, 'invalid_parameters');
    const text = await call(h.clients.a, 'create_insight', {
      title: 'Injection-proof',
      sql: 'SELECT $1::text AS echoed',
      connection: 'sample',
      parameters: [{ name: 'v', type: 'text' }],
      chart: { kind: 'table' },
    });
    const echoed = await call(h.clients.a, 'render_insight', { id: text.id, parameters: { v: "x'); DROP TABLE users; --" } });
    assert.deepEqual(echoed.data.rows, [["x'); DROP TABLE users; --"]]);
    assert.ok(echoed.image.bytes > 0);
  });

  it('validates the SQL with the sandbox parser and planner before saving', async () => {
    const base = { title: 'Bad', connection: 'sample', chart: { kind: 'table' as const } };
    assert.equal((await callError(h.clients.a, 'create_insight', { ...base, sql: 'DELETE FROM events' })).code, 'sql_refused');
    assert.equal((await callError(h.clients.a, 'create_insight', { ...base, sql: 'SELECT * FROM no_such_table' })).code, 'sql_error');
    assert.equal((await callError(h.clients.a, 'create_insight', { ...base, sql: 'SELECT $1::int' })).code, 'invalid_parameters');
    // A declared parameter the SQL never uses could not be bound when the insight renders: refused when saved.
    const unused = await callError(h.clients.a, 'create_insight', {
      ...base,
      sql: 'SELECT $1::int AS a',
      parameters: [
        { name: 'a', type: 'integer', default: 1 },
        { name: 'b', type: 'integer', default: 2 },
      ],
    });
    assert.equal(unused.code, 'invalid_parameters');
    assert.match(unused.message, /uses \$1 but 2 parameters are declared/);
    assert.equal(
      (await callError(h.clients.a, 'create_insight', { ...base, sql: 'SELECT 1', chart: { kind: 'bar', x: 'a' } })).code,
      'validation_failed',
    );
    assert.equal(
      (await callError(h.clients.a, 'create_insight', { ...base, sql: 'SELECT 1', chart: { kind: 'pie' } })).code,
      'validation_failed',
    );
    assert.equal(
      (await callError(h.clients.a, 'create_insight', { ...base, title: 'x'.repeat(201), sql: 'SELECT 1' })).code,
      'validation_failed',
    );
    assert.equal(
      (await callError(h.clients.a, 'create_insight', { ...base, sql: 'SELECT 1', parameters: [{ name: 'Bad Name', type: 'text' }] })).code,
      'validation_failed',
    );
    assert.equal((await call(h.clients.a, 'list_insights', { query: 'Bad' })).items.length, 0);
  });

  it('updates with optimistic concurrency: stale versions are refused, and of two racing updates exactly one wins', async () => {
    const insight = await call(h.clients.a, 'create_insight', {
      title: 'Editable',
      sql: 'SELECT 1 AS one',
      connection: 'sample',
      chart: { kind: 'number' },
    });
    const updated = await call(h.clients.a, 'update_insight', { id: insight.id, version: 1, title: 'Edited' });
    assert.deepEqual([updated.version, updated.title, updated.sql], [2, 'Edited', 'SELECT 1 AS one']);
    const stale = await callError(h.clients.a, 'update_insight', { id: insight.id, version: 1, title: 'Late' });
    assert.equal(stale.code, 'conflict');
    assert.match(stale.message, /version 2/);
    const racing = await Promise.all(
      ['A', 'B', 'C', 'D'].map(
        (t) =>
          h.clients.a.callTool({ name: 'update_insight', arguments: { id: insight.id, version: 2, title: t } }) as Promise<CallToolResult>,
      ),
    );
    assert.equal(racing.filter((r) => r.isError !== true).length, 1);
    assert.equal((await call(h.clients.a, 'view_insight', { id: insight.id })).insight.version, 3);
    assert.equal((await callError(h.clients.a, 'update_insight', { id: insight.id, version: 3, sql: 'DROP TABLE x' })).code, 'sql_refused');
  });

  it('lists with text search and cursors', async () => {
    for (const t of ['Funnel alpha', 'Funnel beta', 'Retention gamma'])
      await call(h.clients.a, 'create_insight', { title: t, sql: 'SELECT 1', connection: 'sample', chart: { kind: 'table' } });
    const funnels = await call(h.clients.a, 'list_insights', { query: 'funnel' });
    assert.deepEqual(
      funnels.items.map((i) => i.title),
      ['Funnel beta', 'Funnel alpha'],
    );
    const first = await call(h.clients.a, 'list_insights', { limit: 2 });
    const second = await call(h.clients.a, 'list_insights', { limit: 2, cursor: first.next_cursor! });
    assert.ok(second.items.every((i) => !first.items.some((j) => j.id === i.id)));
  });

  it("keeps environments apart: another environment's insight is not found for view, update and render", async () => {
    const insight = await call(h.clients.a, 'create_insight', {
      title: 'Private',
      sql: 'SELECT 1',
      connection: 'sample',
      chart: { kind: 'table' },
    });
    for (const [tool, args] of [
      ['view_insight', { id: insight.id }],
      ['update_insight', { id: insight.id, version: 1, title: 'stolen' }],
      ['render_insight', { id: insight.id }],
    ] as const) {
      assert.equal((await callError(h.clients.b, tool, args)).code, 'not_found', tool);
    }
    assert.equal((await call(h.clients.b, 'list_insights', {})).items.length, 0);
  });

  it('refuses write tools with a read-only token, and answers idempotent retries once', async () => {
    await assertReaderRefused(h.servers.a, 'create_insight', { title: 't', sql: 'SELECT 1', chart: { kind: 'table' } });
    await assertReaderRefused(h.servers.a, 'update_insight', { id: '00000000-0000-4000-8000-000000000000', version: 1 });
    const input = { title: 'Once', sql: 'SELECT 1', connection: 'sample', chart: { kind: 'table' as const }, idempotency_key: 'ins-1' };
    const [a, b] = await Promise.all([call(h.clients.a, 'create_insight', input), call(h.clients.a, 'create_insight', input)]);
    assert.equal(a.id, b.id);
    assert.equal((await callError(h.clients.a, 'create_insight', { ...input, title: 'Twice' })).code, 'idempotency_conflict');
  });

  it('renders over REST with the PNG in image.data', async () => {
    const insight = await call(h.clients.a, 'create_insight', {
      title: 'Devices',
      sql: 'SELECT device, count(*) AS n FROM sessions GROUP BY 1 ORDER BY 1',
      connection: 'sample',
      chart: { kind: 'bar', x: 'device', y: 'n', sort: '-y' },
    });
    assert.equal(insight.chart.sort, '-y');
    const response = await fetch(`${h.servers.a.url}/api/v1/insights/${insight.id}/render`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${h.servers.a.tokens.read}` },
      body: JSON.stringify({ width: 400, height: 300 }),
    });
    assert.equal(response.status, 200, await response.clone().text());
    const body = (await response.json()) as { image: { data: string } };
    const png = inspectPng(body.image.data);
    assert.deepEqual([png.width, png.height], [400, 300]);
    assert.ok(png.inked > 1000);
  });
});
