import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { sql } from 'kysely';
import { applyModel, planInSandbox } from '../../../src/lakehouse/semantic-models.js';
import { rangeResolver } from '../../../src/operations/environment-time-zone.js';
import { connectClient } from '../../helpers/mcp.js';
import { call, callError, startLakehouseHarness, type LakehouseHarness } from '../lakehouse/harness.js';

// query_funnel, query_retention and query_segmentation over the test sample (connection `sample`) and over a
// user's own event table: each answer equals hand-written SQL over the same data (written another way, with
// self-joins where the tools do not use them), hostile input is refused or quoted, save_as needs write scope.

let h: LakehouseHarness;
let writer: Client;
const ZONE = 'America/New_York';
before(async () => {
  h = await startLakehouseHarness();
  writer = await connectClient(h.servers.a.mcpUrl, h.servers.a.tokens.readWrite);
  await sql`UPDATE environments SET time_zone = ${ZONE} WHERE id = ${h.env.a.id}`.execute(h.database.db);
});
after(async () => {
  await writer?.close();
  await h?.close();
});

const rows = async (text: string, connection = 'sample') =>
  (await call(h.clients.a, 'query_lakehouse', { connection, sql: text, limit: 10_000 })).rows;
const ts = (iso: string) => `TIMESTAMPTZ '${iso}'`;

describe('query_funnel', () => {
  it('per step users, conversions and median seconds equal hand-written SQL (filters, window, relative range)', async () => {
    const result = await call(h.clients.a, 'query_funnel', {
      steps: [{ event: 'signup' }, { event: 'onboarding_completed' }, { event: 'purchase', where: { amount: { gt: 100 } } }],
      window: '2d',
      range: 'last 30 days',
    });
    const expected = rangeResolver(ZONE, Date.now())('last 30 days');
    assert.deepEqual([result.range.from, result.range.to, result.range.time_zone], [expected.from, expected.to, ZONE]);
    const { from, to } = result.range;
    const [hand] = await rows(`
      WITH s1 AS (SELECT user_id, min(occurred_at) AS t1 FROM events WHERE event = 'signup' AND occurred_at >= ${ts(from)} AND occurred_at < ${ts(to)} GROUP BY 1),
      s2 AS (SELECT s1.user_id, t1, min(e.occurred_at) AS t2 FROM s1 JOIN events e ON e.user_id = s1.user_id AND e.event = 'onboarding_completed'
             AND e.occurred_at > t1 AND e.occurred_at <= t1 + INTERVAL 2 DAY GROUP BY 1, 2),
      s3 AS (SELECT s2.user_id, t2, min(e.occurred_at) AS t3 FROM s2 JOIN events e ON e.user_id = s2.user_id AND e.event = 'purchase'
             AND (e.properties->>'amount')::DOUBLE > 100 AND e.occurred_at > t2 AND e.occurred_at <= t1 + INTERVAL 2 DAY GROUP BY 1, 2)
      SELECT (SELECT count(*) FROM s1), (SELECT count(*) FROM s2), (SELECT count(*) FROM s3),
             (SELECT round(median(epoch(t2) - epoch(t1)), 1) FROM s2), (SELECT round(median(epoch(t3) - epoch(t2)), 1) FROM s3)`);
    const [n1, n2, n3, m2, m3] = (hand ?? []).map(Number) as [number, number, number, number, number];
    assert.ok(n1 > 0 && n3 > 0, 'the sample has signups and enterprise purchases in the last 30 days');
    assert.deepEqual(
      result.steps.map((s) => [s.step, s.event, s.users, s.median_seconds_to_convert]),
      [
        [1, 'signup', n1, null],
        [2, 'onboarding_completed', n2, m2],
        [3, 'purchase', n3, m3],
      ],
    );
    assert.equal(result.steps[2]?.conversion_from_previous, Math.round((n3 / n2) * 10_000) / 10_000);
    assert.equal(result.steps[2]?.conversion_from_first, Math.round((n3 / n1) * 10_000) / 10_000);
    assert.match(result.sql, /list_filter/);
    assert.doesNotMatch(result.sql, /JOIN/, 'no self-joins of the event table');
  });

  it('breaks down by a property of the entry event, as GROUP BY over hand-written SQL', async () => {
    const result = await call(h.clients.a, 'query_funnel', {
      steps: [{ event: 'signup' }, { event: 'purchase' }],
      breakdown: 'utm_source',
      range: 'last 60 days',
    });
    const { from, to } = result.range;
    const hand = await rows(`
      WITH s1 AS (SELECT user_id, arg_min(properties->>'utm_source', occurred_at) AS b, min(occurred_at) AS t1 FROM events
                  WHERE event = 'signup' AND occurred_at >= ${ts(from)} AND occurred_at < ${ts(to)} GROUP BY 1)
      SELECT b, count(*), count(DISTINCT p.user_id) FROM s1 LEFT JOIN events p ON p.user_id = s1.user_id AND p.event = 'purchase'
        AND p.occurred_at > t1 AND p.occurred_at <= t1 + INTERVAL 7 DAY GROUP BY 1 ORDER BY 2 DESC, 1`);
    const got = new Map<string, number[]>();
    for (const s of result.steps) got.set(s.breakdown ?? '', [...(got.get(s.breakdown ?? '') ?? []), s.users]);
    assert.deepEqual(
      [...got],
      hand.map((r) => [String(r[0]), [Number(r[1]), Number(r[2])]]),
    );
  });
});

describe('query_retention', () => {
  for (const [period, periods, range] of [
    ['day', 3, 'last 14 days'],
    ['week', 4, 'last 8 weeks'],
    ['month', 2, 'last 3 months'],
  ] as const) {
    it(`by ${period}: cohort sizes and retained users equal hand-written SQL`, async () => {
      const result = await call(h.clients.a, 'query_retention', {
        cohort: 'signup',
        return: 'feature_used',
        return_where: { feature: { neq: 'export' } },
        period,
        periods,
        range,
      });
      const { from, to } = result.range;
      const trunc = (t: string) => `date_trunc('${period}', timezone('${ZONE}', ${t}))`;
      const diff = (a: string, b: string) =>
        period === 'week' ? `date_diff('day', ${a}, ${b}) // 7` : `date_diff('${period}', ${a}, ${b})`;
      const hand = await rows(`
        WITH c AS (SELECT user_id, min(occurred_at) AS ct FROM events WHERE event = 'signup' AND occurred_at >= ${ts(from)} AND occurred_at < ${ts(to)} GROUP BY 1),
        x AS (SELECT user_id, ct, ${trunc('ct')} AS cohort FROM c)
        SELECT strftime(x.cohort, '%Y-%m-%d'), (SELECT count(*) FROM x y WHERE y.cohort = x.cohort),
               ${diff('x.cohort', trunc('e.occurred_at'))} AS k, count(DISTINCT x.user_id)
        FROM x JOIN events e ON e.user_id = x.user_id AND e.event = 'feature_used' AND coalesce(e.properties->>'feature', '') <> 'export'
          AND e.occurred_at >= x.ct
        GROUP BY x.cohort, k HAVING k <= ${periods} ORDER BY 1, 3`);
      assert.ok(hand.length > 0);
      for (const [cohort, size, k, users] of hand) {
        const row = result.cohorts.find((c) => c.cohort === cohort);
        assert.ok(row, `cohort ${String(cohort)}`);
        assert.equal(row.size, Number(size));
        assert.equal(
          row.retained[Number(k)],
          Math.round((Number(users) / Number(size)) * 10_000) / 10_000,
          `${String(cohort)} period ${String(k)}`,
        );
      }
      const sizes = await rows(
        `SELECT count(*) FROM (SELECT user_id FROM events WHERE event = 'signup' AND occurred_at >= ${ts(from)} AND occurred_at < ${ts(to)} GROUP BY 1)`,
      );
      assert.equal(
        result.cohorts.reduce((sum, c) => sum + c.size, 0),
        Number(sizes[0]?.[0]),
      );
      assert.equal(result.cohorts.at(-1)?.retained.at(-1), null, 'a period not yet begun is null');
    });
  }
});

describe('query_segmentation', () => {
  const measures = [
    ['count', 'count(*)'],
    ['users', 'count(DISTINCT user_id)'],
    ['sum', 'sum(a)'],
    ['avg', 'avg(a)'],
    ['min', 'min(a)'],
    ['max', 'max(a)'],
    ['p50', 'quantile_cont(a, 0.5)'],
    ['p90', 'quantile_cont(a, 0.9)'],
    ['p99', 'quantile_cont(a, 0.99)'],
  ] as const;
  for (const [measure, aggregate] of measures) {
    it(`${measure} per week equals hand-written SQL`, async () => {
      const result = await call(h.clients.a, 'query_segmentation', {
        event: 'purchase',
        where: { plan: ['pro', 'enterprise'] },
        measure,
        ...(measure === 'count' || measure === 'users' ? {} : { property: 'amount' }),
        interval: 'week',
        range: '2000-01-01..2100-01-01',
      });
      const hand = await rows(`SELECT strftime(date_trunc('week', timezone('${ZONE}', occurred_at)), '%Y-%m-%d'), ${aggregate}
        FROM (SELECT *, TRY_CAST(properties->>'amount' AS DOUBLE) AS a FROM events WHERE event = 'purchase' AND (properties->>'plan') IN ('pro', 'enterprise')) GROUP BY 1 ORDER BY 1`);
      assert.equal(result.series.length, 1);
      assert.deepEqual(
        result.series[0]?.points,
        hand.map((r) => [r[0], Number(r[1])]),
      );
    });
  }

  it('a breakdown keeps the top N values by events and sums the rest as (other)', async () => {
    const result = await call(h.clients.a, 'query_segmentation', {
      event: 'page_view',
      measure: 'users',
      interval: 'month',
      breakdown: 'path',
      limit: 3,
      range: '2000-01-01..2100-01-01',
    });
    const hand = await rows(`
      WITH e AS (SELECT strftime(date_trunc('month', timezone('${ZONE}', occurred_at)), '%Y-%m-%d') AS m, user_id, coalesce(properties->>'path', '(none)') AS p FROM events WHERE event = 'page_view'),
      top AS (SELECT p FROM e GROUP BY p ORDER BY count(*) DESC, p LIMIT 3)
      SELECT CASE WHEN p IN (SELECT p FROM top) THEN p ELSE '(other)' END AS b, m, count(DISTINCT user_id) FROM e GROUP BY 1, 2 ORDER BY 1, 2`);
    assert.equal(result.series.length, 4);
    assert.equal(result.series.at(-1)?.breakdown, '(other)');
    for (const s of result.series) {
      assert.deepEqual(
        s.points,
        hand.filter((r) => r[0] === s.breakdown).map((r) => [r[1], Number(r[2])]),
        String(s.breakdown),
      );
    }
  });
});

describe('analytics tools: an event table declared by a user model', () => {
  it('reads a loaded lakehouse table through its model, properties as columns', async () => {
    const csv =
      'who,at,what,plan\n1,2026-01-05T10:00:00Z,open,pro\n1,2026-01-05T11:00:00Z,pay,pro\n2,2026-01-06T09:00:00Z,open,free\n3,2026-01-12T09:00:00Z,open,pro\n3,2026-01-20T09:00:00Z,pay,pro\n';
    const response = await fetch(`${h.servers.a.url}/api/v1/lakehouse/tables/clicks/rows`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.servers.a.tokens.readWrite}`, 'content-type': 'text/csv' },
      body: csv,
    });
    assert.equal(response.status, 200, await response.clone().text());
    const model = {
      name: 'clicks',
      connection: 'lakehouse',
      table: 'clicks',
      event_table: { user: 'who', time: 'at', event: 'what' },
      dimensions: [{ name: 'what', expr: 'clicks.what', type: 'string' }],
      measures: [{ name: 'clicks', agg: 'count' }],
    };
    await applyModel(h.database.db, h.env.a.id, model, planInSandbox(h.lakehouse, h.env.a.id));
    const funnel = await call(h.clients.a, 'query_funnel', {
      model: 'clicks',
      steps: [{ event: 'open', where: { plan: 'pro' } }, { event: 'pay' }],
      window: '1w',
      range: '2026-01-01..2026-01-31',
    });
    assert.deepEqual(
      funnel.steps.map((s) => s.users),
      [2, 1],
      'user 3 paid 8 days after opening: outside the week',
    );
    const seg = await call(h.clients.a, 'query_segmentation', {
      model: 'clicks',
      event: 'open',
      breakdown: 'plan',
      interval: 'week',
      range: '2026-01-01..2026-01-31',
    });
    assert.deepEqual(
      seg.series.map((s) => [s.breakdown, s.points]),
      [
        [
          'pro',
          [
            ['2026-01-05', 1],
            ['2026-01-12', 1],
          ],
        ],
        ['free', [['2026-01-05', 1]]],
      ],
    );
    const unknown = await callError(h.clients.a, 'query_segmentation', { model: 'clicks', event: 'open', breakdown: 'nope' });
    assert.equal(unknown.code, 'invalid_query');
    assert.match(unknown.message, /No column "nope".*its columns: who, at, what, plan/);
    const broken = { ...model, name: 'broken', event_table: { user: 'who', time: 'missing', event: 'what' } };
    await assert.rejects(
      applyModel(h.database.db, h.env.a.id, broken, planInSandbox(h.lakehouse, h.env.a.id)),
      /event_table does not plan/,
    );
  });
});

describe('analytics tools: hostile input', () => {
  it('quotes injection attempts in event names and filter values: no rows, nothing run', async () => {
    const result = await call(h.clients.a, 'query_segmentation', {
      event: "purchase' OR 1=1 --",
      where: { path: { contains: "'); DROP TABLE events; --" } },
      range: '2000-01-01..2100-01-01',
    });
    assert.deepEqual(result.series, []);
    assert.match(result.sql, /'purchase'' OR 1=1 --'/);
  });

  it('refuses bad property names, unknown operators, too many steps, NUL, unknown models and models without an event table', async () => {
    const cases: [string, Record<string, unknown>, string, RegExp][] = [
      ['query_segmentation', { event: 'x', breakdown: "a' || 1" }, 'validation_failed', /breakdown/],
      ['query_segmentation', { event: 'x', where: { "a'b": 1 } }, 'validation_failed', /where/],
      [
        'query_segmentation',
        { event: 'x', where: { a: { like: '%' } } },
        'invalid_query',
        /Unknown operator "like" on "a"; use one of eq, neq/,
      ],
      ['query_segmentation', { event: 'x', where: { a: { gt: 'big' } } }, 'invalid_query', /gt compares numbers/],
      ['query_segmentation', { event: 'x', measure: 'sum' }, 'invalid_query', /needs `property`/],
      ['query_segmentation', { event: 'x\u0000y' }, 'invalid_query', /NUL/],
      ['query_funnel', { steps: Array.from({ length: 11 }, () => ({ event: 'signup' })) }, 'validation_failed', /steps/],
      ['query_funnel', { steps: [{ event: 'signup' }, { event: 'purchase' }], window: '7 days' }, 'validation_failed', /window/],
      [
        'query_funnel',
        { steps: [{ event: 'signup' }, { event: 'purchase' }], range: 'since forever' },
        'invalid_query',
        /not a range; use today/,
      ],
      ['query_retention', { cohort: 'signup', return: 'purchase', model: 'nope' }, 'not_found', /list_semantic_models/],
      ['query_retention', { cohort: 'signup', return: 'purchase', model: 'product_users' }, 'invalid_query', /declares no event_table/],
    ];
    for (const [tool, args, code, message] of cases) {
      const error = await callError(h.clients.a, tool as 'query_funnel', args);
      assert.equal(error.code, code, `${tool} ${JSON.stringify(args)}: ${error.message}`);
      assert.match(error.message, message);
    }
  });
});

describe('analytics tools: export', () => {
  /** The answer's file holds every row of the answer's SQL, and downloads with the same token only. */
  async function checkExport(tool: string, result: { sql: string; export?: { url: string; format: string; rows: number; bytes: number } }) {
    const file = result.export;
    assert.ok(file, `${tool} answers export`);
    const whole = await rows(`SELECT count(*) FROM (${result.sql})`);
    assert.equal(file.rows, Number(whole[0]?.[0]), `${tool}: every row of its SQL`);
    const download = await fetch(file.url, { headers: { authorization: `Bearer ${h.servers.a.tokens.read}` } });
    assert.equal(download.status, 200);
    const body = Buffer.from(await download.arrayBuffer());
    assert.equal(body.length, file.bytes);
    if (file.format === 'csv') assert.equal(body.toString('utf8').trimEnd().split('\n').length, file.rows + 1, 'a header and every row');
    else assert.equal(body.subarray(0, 4).toString(), 'PAR1');
    assert.equal((await fetch(file.url)).status, 401, 'not without the token');
  }

  it('each writes the whole result of its SQL as a file, downloadable with the same token', async () => {
    const range = '2000-01-01..2100-01-01';
    const funnel = await call(h.clients.a, 'query_funnel', { steps: [{ event: 'signup' }, { event: 'purchase' }], range, export: 'csv' });
    await checkExport('query_funnel', funnel);
    const retention = await call(h.clients.a, 'query_retention', {
      cohort: 'signup',
      return: 'purchase',
      period: 'week',
      periods: 4,
      range,
      export: 'parquet',
    });
    await checkExport('query_retention', retention);
    const segmentation = await call(h.clients.a, 'query_segmentation', {
      event: 'purchase',
      measure: 'count',
      interval: 'day',
      range,
      export: 'csv',
    });
    await checkExport('query_segmentation', segmentation);
  });
});

describe('analytics tools: save_as and REST', () => {
  const insights = async () =>
    Number(
      (await sql<{ n: string }>`SELECT count(*) AS n FROM insights WHERE environment_id = ${h.env.a.id}`.execute(h.database.db)).rows[0]?.n,
    );

  it('a read-only token gets insufficient_scope and nothing is saved; a writer gets an insight that renders', async () => {
    const before = await insights();
    const args = { steps: [{ event: 'signup' }, { event: 'purchase' }], save_as: 'Signup to purchase' };
    // Over MCP, as for any tool the token's scopes do not cover: HTTP 403 with a step-up challenge.
    await assert.rejects(call(h.clients.a, 'query_funnel', args), /save_as. \(saving an insight\) needs the .*write.* scope/);
    const rest = await fetch(`${h.servers.a.url}/api/v1/analytics/funnel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.servers.a.tokens.read}`, 'content-type': 'application/json' },
      body: JSON.stringify(args),
    });
    assert.equal(rest.status, 403);
    assert.equal(((await rest.json()) as { code: string }).code, 'insufficient_scope');
    assert.equal(await insights(), before);

    const saved = await call(writer, 'query_funnel', args);
    assert.ok(saved.insight_id);
    const view = await call(writer, 'view_insight', { id: saved.insight_id });
    assert.equal(view.insight.sql, saved.sql);
    assert.deepEqual(view.insight.chart, { kind: 'bar', x: 'step_label', y: 'users', sort: 'data' });
    const rendered = await call(writer, 'render_insight', { id: saved.insight_id });
    assert.deepEqual(
      rendered.data.rows.map((r) => Number(r[3])),
      saved.steps.map((s) => s.users),
    );
    const retention = await call(writer, 'query_retention', { cohort: 'signup', return: 'session_start', save_as: 'Weekly retention' });
    assert.equal((await call(writer, 'view_insight', { id: retention.insight_id! })).insight.chart.kind, 'line');
  });

  it('POST /api/v1/analytics/segmentation answers as the tool does', async () => {
    const args = { event: 'signup', interval: 'week' as const, range: '2000-01-01..2100-01-01' };
    const response = await fetch(`${h.servers.a.url}/api/v1/analytics/segmentation`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.servers.a.tokens.read}`, 'content-type': 'application/json' },
      body: JSON.stringify(args),
    });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { series: unknown; sql: string };
    const tool = await call(h.clients.a, 'query_segmentation', args);
    assert.deepEqual(body.series, tool.series);
    assert.equal(body.sql, tool.sql);
  });
});
