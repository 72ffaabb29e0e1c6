import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { ToolName } from '../../../src/generated/handlers.js';
import { restClient } from '../../helpers/contract.js';
import { assertReaderRefused, call, callError, eventually, startAssetHarness, type AssetHarness } from './harness.js';

let h: AssetHarness;
before(async () => {
  h = await startAssetHarness();
});
after(() => h.close());

type Kind = 'insight' | 'dashboard' | 'memory' | 'discovery';
const KINDS: Kind[] = ['insight', 'dashboard', 'memory', 'discovery'];
const PATHS = {
  insight: '/api/v1/insights/{id}',
  dashboard: '/api/v1/dashboards/{id}',
  memory: '/api/v1/memories/{id}',
  discovery: '/api/v1/discoveries/{id}',
} as const;
const TABLES = { insight: 'insights', dashboard: 'dashboards', memory: 'memories', discovery: 'discoveries' } as const;
const deleteTool = (kind: Kind) => `delete_${kind}` as const satisfies ToolName;

async function insightOf(client: Client, title = 'Devices'): Promise<string> {
  const insight = await call(client, 'create_insight', {
    title,
    sql: 'SELECT device, count(*) AS n FROM sessions GROUP BY 1 ORDER BY 1',
    connection: 'sample',
    chart: { kind: 'bar', x: 'device', y: 'n' },
  });
  return insight.id;
}

/** A fresh asset of `kind` in the client's environment. */
async function create(kind: Kind, client: Client = h.clients.a): Promise<string> {
  switch (kind) {
    case 'insight':
      return insightOf(client);
    case 'dashboard':
      return (
        await call(client, 'create_dashboard', {
          title: 'Health',
          widgets: [{ insight_id: await insightOf(client), x: 0, y: 0, w: 6, h: 4 }],
        })
      ).id;
    case 'memory':
      return (await call(client, 'create_memory', { content: 'Internal accounts skew revenue.', type: 'semantic', importance: 0.5 })).id;
    case 'discovery':
      return (await call(client, 'create_discovery', { title: 'Spike', summary: 'Signups doubled.', severity: 'info', notify: false })).id;
  }
}

/** Whether the row is there (and, for an insight, live): read from the database, whatever the tools say. */
async function exists(kind: Kind, id: string): Promise<boolean> {
  const { db } = h.database;
  if (kind === 'insight') {
    const row = await db.selectFrom('insights').select('deleted_at').where('id', '=', id).executeTakeFirst();
    return row !== undefined && row.deleted_at === null;
  }
  return (await db.selectFrom(TABLES[kind]).select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
}

async function auditRows(operation: string, id: string) {
  await Promise.all([h.servers.a.audit.flush(), h.servers.b.audit.flush()]);
  return h.database.db
    .selectFrom('audit_log')
    .select(['environment_id', 'outcome', 'detail'])
    .where('operation', '=', operation)
    .where((eb) => eb(eb.ref('detail', '->>').key('id'), '=', id))
    .orderBy('id')
    .execute();
}

describe('deletes', () => {
  it('lists the delete tools as destructive and idempotent', async () => {
    const { tools } = await h.clients.a.listTools();
    for (const kind of KINDS) {
      const tool = tools.find((t) => t.name === deleteTool(kind));
      assert.ok(tool, deleteTool(kind));
      assert.equal(tool.annotations?.destructiveHint, true);
      assert.equal(tool.annotations?.idempotentHint, true);
      assert.equal(tool.annotations?.readOnlyHint, false);
      assert.ok((tool.description ?? '').length <= 200, `${tool.name}: description over 200 characters`);
      assert.deepEqual(Object.keys(tool.inputSchema.properties ?? {}), ['id']);
    }
  });

  for (const kind of KINDS) {
    it(`deletes a ${kind} over MCP, answers deleted: false on a repeat, and audits both`, async () => {
      const id = await create(kind);
      assert.deepEqual(await call(h.clients.a, deleteTool(kind), { id }), { deleted: true });
      assert.equal(await exists(kind, id), false);
      if (kind !== 'memory') assert.equal((await callError(h.clients.a, `view_${kind}` as ToolName, { id })).code, 'not_found');
      assert.deepEqual(await call(h.clients.a, deleteTool(kind), { id }), { deleted: false });
      const rows = await auditRows(deleteTool(kind), id);
      assert.deepEqual(
        rows.map((r) => [r.environment_id, r.outcome, r.detail]),
        [
          [h.env.a.id, 'ok', { kind, id, deleted: true }],
          [h.env.a.id, 'ok', { kind, id, deleted: false }],
        ],
      );
    });

    it(`deletes a ${kind} over REST (DELETE ${PATHS[kind]}), and refuses a read-only token there`, async () => {
      const id = await create(kind);
      const reader = restClient(h.servers.a.url, { authorization: `Bearer ${h.servers.a.tokens.read}` });
      const refused = await reader.DELETE(PATHS[kind], { params: { path: { id } } });
      assert.equal(refused.response.status, 403);
      assert.equal(refused.error?.code, 'insufficient_scope');
      assert.equal(await exists(kind, id), true, 'a refused delete changes nothing');
      const writer = restClient(h.servers.a.url, { authorization: `Bearer ${h.servers.a.tokens.readWrite}` });
      const first = await writer.DELETE(PATHS[kind], { params: { path: { id } } });
      assert.equal(first.response.status, 200);
      assert.deepEqual(first.data, { deleted: true });
      assert.equal(await exists(kind, id), false);
      const again = await writer.DELETE(PATHS[kind], { params: { path: { id } } });
      assert.deepEqual([again.response.status, again.data], [200, { deleted: false }]);
      const bad = await writer.DELETE(PATHS[kind], { params: { path: { id: 'not-a-uuid' } } });
      assert.equal(bad.response.status, 400);
      assert.equal(bad.error?.code, 'validation_failed');
    });

    it(`refuses delete_${kind} to a read-only token over MCP, changing nothing`, async () => {
      const id = await create(kind);
      await assertReaderRefused(h.servers.a, deleteTool(kind), { id });
      assert.equal(await exists(kind, id), true);
    });

    it(`answers another environment's ${kind} id as an unknown one, changing nothing`, async () => {
      const id = await create(kind);
      const unknown = crypto.randomUUID();
      assert.deepEqual(await call(h.clients.b, deleteTool(kind), { id }), { deleted: false });
      assert.deepEqual(await call(h.clients.b, deleteTool(kind), { id: unknown }), { deleted: false });
      assert.equal(await exists(kind, id), true, "another environment's delete left it in place");
      const rows = await auditRows(deleteTool(kind), id);
      assert.deepEqual(
        rows.map((r) => [r.environment_id, r.detail]),
        [[h.env.b.id, { kind, id, deleted: false }]],
      );
    });
  }

  it('refuses a malformed id over MCP', async () => {
    for (const kind of KINDS) {
      assert.equal((await callError(h.clients.a, deleteTool(kind), { id: "1' OR '1'='1" })).code, 'validation_failed');
      assert.equal((await callError(h.clients.a, deleteTool(kind), { id: crypto.randomUUID(), force: true })).code, 'validation_failed');
    }
  });

  it('keeps a deleted insight’s widget on its dashboard, marked insight_deleted, while the others still run', async () => {
    const kept = await insightOf(h.clients.a, 'Kept');
    const gone = await insightOf(h.clients.a, 'Gone');
    const d = await call(h.clients.a, 'create_dashboard', {
      title: 'Mixed',
      widgets: [
        { insight_id: kept, x: 0, y: 0, w: 6, h: 4 },
        { insight_id: gone, x: 6, y: 0, w: 6, h: 4 },
      ],
    });
    await call(h.clients.a, 'delete_insight', { id: gone });
    const plain = await call(h.clients.reader, 'view_dashboard', { id: d.id });
    assert.equal(plain.dashboard.widget_count, 2);
    assert.deepEqual(
      plain.widgets.map((w) => [w.insight_id, w.insight.title, w.error?.code]),
      [
        [kept, 'Kept', undefined],
        [gone, 'Gone', 'insight_deleted'],
      ],
    );
    assert.match(plain.widgets[1]?.error?.message ?? '', new RegExp(`insight ${gone}.*deleted`));
    const full = await call(h.clients.reader, 'view_dashboard', { id: d.id, include_data: true });
    assert.ok((full.widgets[0]?.data?.row_count ?? 0) > 0, 'the live widget ran');
    assert.equal(full.widgets[1]?.data, undefined, 'the deleted insight did not run');
    assert.equal(full.widgets[1]?.error?.code, 'insight_deleted');
    // Every other read treats it as absent: lists, renders, counts, new widgets.
    assert.ok(!(await call(h.clients.a, 'list_insights', { limit: 100 })).items.some((i) => i.id === gone));
    assert.equal((await callError(h.clients.a, 'render_insight', { id: gone })).code, 'not_found');
    assert.equal((await callError(h.clients.a, 'update_insight', { id: gone, version: 1, title: 'Back' })).code, 'not_found');
    // get_session_context counts live insights only (its counts are cached for a few seconds: poll).
    const count = (live: boolean) => {
      let query = h.database.db
        .selectFrom('insights')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('environment_id', '=', h.env.a.id);
      if (live) query = query.where('deleted_at', 'is', null);
      return query.executeTakeFirstOrThrow().then((r) => Number(r.n));
    };
    const live = await count(true);
    assert.ok((await count(false)) > live);
    await eventually(async () => (await call(h.clients.a, 'get_session_context', {})).holds.insights === live, 10_000, 'live count');
    const widgets = [{ insight_id: gone, x: 0, y: 0, w: 6, h: 4 }];
    assert.equal((await callError(h.clients.a, 'create_dashboard', { title: 'New', widgets })).code, 'not_found');
    assert.equal((await callError(h.clients.a, 'update_dashboard', { id: d.id, version: 1, widgets })).code, 'not_found');
    // Replacing the widget list without it repairs the dashboard.
    const repaired = await call(h.clients.a, 'update_dashboard', {
      id: d.id,
      version: 1,
      widgets: [{ insight_id: kept, x: 0, y: 0, w: 12, h: 4 }],
    });
    assert.equal(repaired.widget_count, 1);
  });

  it('leaves the insights of a deleted dashboard, and the notification of a deleted discovery', async () => {
    const insight = await insightOf(h.clients.a, 'Survivor');
    const d = await call(h.clients.a, 'create_dashboard', { title: 'Gone', widgets: [{ insight_id: insight, x: 0, y: 0, w: 6, h: 4 }] });
    await call(h.clients.a, 'delete_dashboard', { id: d.id });
    const widgets = await h.database.db.selectFrom('dashboard_widgets').select('position').where('dashboard_id', '=', d.id).execute();
    assert.equal(widgets.length, 0);
    assert.equal((await call(h.clients.a, 'view_insight', { id: insight })).insight.title, 'Survivor');

    const discovery = await call(h.clients.a, 'create_discovery', {
      title: 'Drop',
      summary: 'Signups fell.',
      severity: 'warning',
      insight_id: insight,
    });
    assert.ok(discovery.notification_id);
    await call(h.clients.a, 'delete_discovery', { id: discovery.id });
    const notifications = await call(h.clients.a, 'list_notifications', { limit: 100 });
    assert.ok(notifications.items.some((n) => n.id === discovery.notification_id));
  });

  it('shows a discovery whose evidence insight was deleted, without the insight', async () => {
    const insight = await insightOf(h.clients.a, 'Evidence');
    const d = await call(h.clients.a, 'create_discovery', {
      title: 'Odd',
      summary: 'Look.',
      severity: 'info',
      insight_id: insight,
      notify: false,
    });
    assert.equal((await call(h.clients.a, 'view_discovery', { id: d.id })).insight?.id, insight);
    await call(h.clients.a, 'delete_insight', { id: insight });
    const viewed = await call(h.clients.a, 'view_discovery', { id: d.id });
    assert.equal(viewed.discovery.insight_id, insight);
    assert.equal(viewed.insight, undefined);
  });

  it('answers a create retried with its idempotency key after a delete with the first result, creating nothing', async () => {
    const input = {
      content: 'Weekly churn is reported on Mondays.',
      type: 'procedural',
      importance: 0.4,
      idempotency_key: 'memo-1',
    } as const;
    const first = await call(h.clients.a, 'create_memory', input);
    await call(h.clients.a, 'delete_memory', { id: first.id });
    const retried = await call(h.clients.a, 'create_memory', input);
    assert.equal(retried.id, first.id);
    assert.equal(await exists('memory', first.id), false, 'the retry did not bring it back');
    const fresh = await call(h.clients.a, 'create_memory', { ...input, idempotency_key: 'memo-2' });
    assert.notEqual(fresh.id, first.id);
    assert.equal(await exists('memory', fresh.id), true);
  });
});
