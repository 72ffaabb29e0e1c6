import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { assertReaderRefused, call, callError, startAssetHarness, type AssetHarness } from './harness.js';

let h: AssetHarness;
let devices: string;
let perUser: string;
let foreign: string;
before(async () => {
  h = await startAssetHarness();
  devices = (
    await call(h.clients.a, 'create_insight', {
      title: 'Devices',
      sql: 'SELECT device, count(*) AS n FROM sessions GROUP BY 1 ORDER BY 1',
      connection: 'sample',
      chart: { kind: 'bar', x: 'device', y: 'n' },
    })
  ).id;
  perUser = (
    await call(h.clients.a, 'create_insight', {
      title: 'Sessions of one user',
      sql: 'SELECT count(*) AS n FROM sessions WHERE user_id = $1',
      connection: 'sample',
      parameters: [{ name: 'user_id', type: 'integer' }],
      chart: { kind: 'number' },
    })
  ).id;
  foreign = (
    await call(h.clients.b, 'create_insight', { title: 'Elsewhere', sql: 'SELECT 1', connection: 'sample', chart: { kind: 'table' } })
  ).id;
});
after(() => h.close());

describe('dashboards', () => {
  it('puts insights on a dashboard and shows them with their definitions and, optionally, their data', async () => {
    const d = await call(h.clients.a, 'create_dashboard', {
      title: 'Product health',
      widgets: [
        { insight_id: devices, x: 0, y: 0, w: 6, h: 4 },
        { insight_id: perUser, x: 6, y: 0, w: 6, h: 4 },
      ],
      variables: [{ name: 'user_id', label: 'User', default: 1 }],
    });
    assert.deepEqual([d.version, d.widget_count], [1, 2]);
    const plain = await call(h.clients.reader, 'view_dashboard', { id: d.id });
    assert.equal(plain.url, `${h.servers.a.url}/dashboards/${d.id}`, 'the web page, under PUBLIC_URL');
    assert.deepEqual(
      plain.widgets.map((w) => [w.insight.title, w.x, w.w]),
      [
        ['Devices', 0, 6],
        ['Sessions of one user', 6, 6],
      ],
    );
    assert.ok(plain.widgets.every((w) => w.data === undefined));
    const full = await call(h.clients.reader, 'view_dashboard', { id: d.id, include_data: true });
    assert.ok((full.widgets[0]?.data?.row_count ?? 0) > 0);
    assert.equal(full.widgets[1]?.data?.row_count, 1, 'the variable fed the parameter');
    const listed = await call(h.clients.a, 'list_dashboards', {});
    assert.deepEqual(
      listed.items.map((i) => [i.id, i.widget_count]),
      [[d.id, 2]],
    );
  });

  it('refuses widgets of another environment, off-grid layouts and bad input, creating nothing', async () => {
    assert.equal(
      (await callError(h.clients.a, 'create_dashboard', { title: 'x', widgets: [{ insight_id: foreign, x: 0, y: 0, w: 1, h: 1 }] })).code,
      'not_found',
    );
    assert.equal(
      (await callError(h.clients.a, 'create_dashboard', { title: 'x', widgets: [{ insight_id: devices, x: 8, y: 0, w: 6, h: 1 }] })).code,
      'invalid_layout',
    );
    assert.equal(
      (await callError(h.clients.a, 'create_dashboard', { title: 'x', widgets: [{ insight_id: devices, x: 0, y: 0, w: 0, h: 1 }] })).code,
      'validation_failed',
    );
    assert.equal((await callError(h.clients.a, 'create_dashboard', { title: 'x', widgets: 'none' })).code, 'validation_failed');
    assert.equal((await call(h.clients.a, 'list_dashboards', {})).items.length, 1);
    // The schema refuses it too: widgets reference insights by (environment_id, id).
    const d = (await call(h.clients.a, 'list_dashboards', {})).items[0]!;
    await assert.rejects(
      h.database.db
        .insertInto('dashboard_widgets')
        .values({ environment_id: h.env.a.id, dashboard_id: d.id, position: 9, insight_id: foreign, x: 0, y: 0, w: 1, h: 1 })
        .execute(),
      /foreign key/,
    );
  });

  it('replaces widgets and variables atomically with optimistic concurrency; one of two racing updates wins', async () => {
    const d = await call(h.clients.a, 'create_dashboard', {
      title: 'Editable',
      widgets: [{ insight_id: devices, x: 0, y: 0, w: 12, h: 3 }],
    });
    const updated = await call(h.clients.a, 'update_dashboard', {
      id: d.id,
      version: 1,
      widgets: [{ insight_id: perUser, x: 0, y: 0, w: 4, h: 2 }],
      variables: [{ name: 'user_id', default: 2 }],
    });
    assert.deepEqual([updated.version, updated.widget_count, updated.title], [2, 1, 'Editable']);
    const viewed = await call(h.clients.a, 'view_dashboard', { id: d.id });
    assert.deepEqual(
      viewed.widgets.map((w) => w.insight_id),
      [perUser],
    );
    assert.deepEqual(viewed.variables, [{ name: 'user_id', default: 2 }]);
    // A failed replacement changes nothing (the foreign widget aborts the transaction).
    assert.equal(
      (
        await callError(h.clients.a, 'update_dashboard', {
          id: d.id,
          version: 2,
          title: 'Broken',
          widgets: [{ insight_id: foreign, x: 0, y: 0, w: 1, h: 1 }],
        })
      ).code,
      'not_found',
    );
    const unchanged = await call(h.clients.a, 'view_dashboard', { id: d.id });
    assert.deepEqual([unchanged.dashboard.title, unchanged.dashboard.version, unchanged.widgets.length], ['Editable', 2, 1]);
    assert.equal((await callError(h.clients.a, 'update_dashboard', { id: d.id, version: 1, title: 'Stale' })).code, 'conflict');
    const racing = await Promise.all(
      [1, 2, 3].map(
        (n) =>
          h.clients.a.callTool({
            name: 'update_dashboard',
            arguments: {
              id: d.id,
              version: 2,
              widgets: Array.from({ length: n }, (_, i) => ({ insight_id: devices, x: 0, y: i, w: 2, h: 1 })),
            },
          }) as Promise<CallToolResult>,
      ),
    );
    assert.equal(racing.filter((r) => r.isError !== true).length, 1);
    const final = await call(h.clients.a, 'view_dashboard', { id: d.id });
    assert.equal(final.dashboard.version, 3);
    assert.equal(final.widgets.length, final.dashboard.widget_count);
  });

  it('keeps environments apart and refuses write tools to read-only tokens; retries are idempotent', async () => {
    const d = await call(h.clients.a, 'create_dashboard', { title: 'Mine', widgets: [] });
    assert.equal((await callError(h.clients.b, 'view_dashboard', { id: d.id })).code, 'not_found');
    assert.equal((await callError(h.clients.b, 'update_dashboard', { id: d.id, version: 1, title: 'stolen' })).code, 'not_found');
    assert.equal((await call(h.clients.b, 'list_dashboards', {})).items.length, 0);
    await assertReaderRefused(h.servers.a, 'create_dashboard', { title: 'x', widgets: [] });
    await assertReaderRefused(h.servers.a, 'update_dashboard', { id: d.id, version: 1 });
    const input = { title: 'Once', widgets: [{ insight_id: devices, x: 0, y: 0, w: 1, h: 1 }], idempotency_key: 'dash-1' };
    const [one, two] = await Promise.all([call(h.clients.a, 'create_dashboard', input), call(h.clients.a, 'create_dashboard', input)]);
    assert.equal(one.id, two.id);
    assert.equal((await callError(h.clients.a, 'create_dashboard', { ...input, title: 'Twice' })).code, 'idempotency_conflict');
  });
});
