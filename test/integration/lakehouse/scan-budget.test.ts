import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { sql } from 'kysely';
import { setEnvironmentSettings, type ScanBudgetLimits } from '../../../src/db/directory.js';
import { evaluate, type FilledDefinition } from '../../../src/tasks/evaluate.js';
import { connectClient } from '../../helpers/mcp.js';
import { call, callError, startLakehouseHarness, type LakehouseHarness } from './harness.js';

// The cost guard (issue 18, item 2), through real MCP clients and REST: a statement whose plan is estimated
// to scan more than its environment's scan budget is refused before it runs, with the estimate, the budget
// and what would bring it under; explain_sql shows the estimate against the budget. Both sides of the line,
// every SQL-running tool, the other environment, and an external PostgreSQL connection.

let h: LakehouseHarness;
let writer: Client;
const A = { organization: 'acme', environment: 'production' };
const budget = (limits: Partial<ScanBudgetLimits>) =>
  setEnvironmentSettings(h.database.db, A, { scanBudget: { rows: null, bytes: null, ...limits } });

const FULL = 'SELECT event, count(DISTINCT user_id) AS users FROM events GROUP BY 1 ORDER BY 1';
/** The last week of the sample's events (its 90 days end when it was made). */
const recent = (last: string) =>
  `SELECT event, count(DISTINCT user_id) AS users FROM events WHERE occurred_at >= TIMESTAMPTZ '${last}' - INTERVAL 7 DAY GROUP BY 1 ORDER BY 1`;
const explain = (sql_: string, client = h.clients.a, connection = 'sample') => call(client, 'explain_sql', { sql: sql_, connection });
const query = (sql_: string, connection = 'sample') => call(h.clients.a, 'query_lakehouse', { sql: sql_, connection });
const refusal = (sql_: string, connection = 'sample') => callError(h.clients.a, 'query_lakehouse', { sql: sql_, connection });

before(async () => {
  h = await startLakehouseHarness({ warehouse: true });
  writer = await connectClient(h.servers.a.mcpUrl, h.servers.a.tokens.readWrite);
  // An external table with planner statistics: 5,000 rows, one a minute back from now.
  await sql
    .raw(
      `CREATE TABLE ${h.env.a.schema}.orders AS SELECT g AS id, now() - g * interval '1 minute' AS created_at, repeat('x', 40) AS note FROM generate_series(1, 5000) g`,
    )
    .execute(h.database.db);
  await sql.raw(`CREATE INDEX ON ${h.env.a.schema}.orders (id)`).execute(h.database.db);
  await sql.raw(`ANALYZE ${h.env.a.schema}.orders`).execute(h.database.db);
});
after(async () => {
  await writer?.close();
  await h?.close();
});

describe('scan budget: unlimited by default', () => {
  it('explain_sql shows the estimate without a budget, and the query runs', async () => {
    const { scan } = await explain(FULL);
    assert.ok(scan && scan.rows > 1_000_000, `the full scan reads the sample's events: ${JSON.stringify(scan)}`);
    assert.ok((scan.bytes ?? 0) > 0, 'bytes are known for Parquet scans');
    assert.equal(scan.over_budget, false);
    assert.equal(scan.budget_rows, undefined);
    assert.ok((await query(FULL)).rows.length > 0);
  });
});

describe('scan budget: both sides of the line', () => {
  after(() => budget({}));

  it('runs at a budget equal to the estimate and refuses one row below it, saying what to do', async () => {
    const { scan } = await explain(FULL);
    await budget({ rows: scan!.rows });
    const at = await explain(FULL);
    assert.deepEqual([at.scan?.budget_rows, at.scan?.over_budget], [scan!.rows, false]);
    assert.ok((await query(FULL)).rows.length > 0);

    await budget({ rows: scan!.rows - 1 });
    const below = await explain(FULL);
    assert.deepEqual([below.scan?.rows, below.scan?.budget_rows, below.scan?.over_budget], [scan!.rows, scan!.rows - 1, true]);
    const error = await refusal(FULL);
    assert.equal(error.code, 'scan_budget_exceeded');
    const grouped = (n: number) => n.toLocaleString('en-US');
    assert.match(error.message, new RegExp(`~${grouped(scan!.rows)} rows`), 'the estimate');
    assert.match(error.message, new RegExp(`scan budget of ${grouped(scan!.rows - 1)} rows`), 'the budget');
    assert.match(error.message, /sample\.events/);
    assert.match(error.message, /occurred_at >= now\(\) - INTERVAL 30 DAY/, 'a time filter on the time column');
    assert.match(error.message, /columns/, 'fewer columns');
    assert.match(error.message, /FROM events TABLESAMPLE \d+%/, 'a sample');
  });

  it('runs a time-filtered query under a budget its full scan exceeds', async () => {
    const full = (await explain(FULL)).scan!;
    const last = (await query('SELECT max(occurred_at) FROM events')).rows[0]![0] as string;
    const RECENT = recent(last);
    // A filter the files' statistics prove always true is dropped by DuckDB: the scan then counts whole.
    assert.equal((await explain(recent('2000-01-01T00:00:00Z'))).scan!.rows, full.rows);
    const week = (await explain(RECENT)).scan!;
    assert.ok(week.rows < full.rows, `${week.rows} < ${full.rows}`);
    await budget({ rows: week.rows });
    assert.equal((await refusal(FULL)).code, 'scan_budget_exceeded');
    assert.ok((await query(RECENT)).rows.length > 0);
  });

  it('a sample the refusal suggests runs under the budget', async () => {
    const full = (await explain(FULL)).scan!;
    await budget({ rows: Math.floor(full.rows / 2) });
    const share = /TABLESAMPLE (\d+)%/.exec((await refusal(FULL)).message)?.[1];
    assert.ok(share, 'a share is suggested');
    const sampled = `SELECT event, count(*) FROM events TABLESAMPLE ${share}% GROUP BY 1`;
    assert.equal((await explain(sampled)).scan?.over_budget, false);
    assert.ok((await query(sampled)).rows.length > 0);
  });

  it('bytes: a budget under the columns read refuses, fewer columns run', async () => {
    const wide = 'SELECT count(DISTINCT user_id), max(occurred_at), max(length(properties::VARCHAR)) FROM events';
    const narrow = 'SELECT count(DISTINCT user_id) FROM events';
    const [w, n] = [(await explain(wide)).scan!, (await explain(narrow)).scan!];
    assert.ok(w.bytes! > n.bytes!, `${w.bytes} > ${n.bytes}`);
    await budget({ bytes: n.bytes! });
    const error = await refusal(wide);
    assert.equal(error.code, 'scan_budget_exceeded');
    assert.match(error.message, /select only the columns you need \(bytes count per column read\)/);
    assert.ok((await query(narrow)).rows.length > 0);
  });

  it('a preview streamed to its limit reads a row group or so, and runs', async () => {
    await budget({ rows: 1_000_000 });
    assert.equal((await query('SELECT * FROM events')).rows.length, 100);
    // A Top-N reads its sort column, then fetches its rows by row number (late materialization): the wide
    // scan counts only those.
    const full = (await explain('SELECT occurred_at FROM events ORDER BY occurred_at')).scan!;
    const topN = (await explain('SELECT * FROM events ORDER BY occurred_at DESC LIMIT 5')).scan!;
    assert.equal(topN.rows, full.rows + 5);
    assert.equal((await refusal('SELECT * FROM events ORDER BY user_id, occurred_at')).code, 'scan_budget_exceeded');
  });

  it('a LIMIT caps what a query, an export and EXPLAIN ANALYZE are estimated to scan, wherever DuckDB plans it', async () => {
    await budget({ rows: 1_000_000 });
    const exported = (sql_: string) => call(h.clients.a, 'query_lakehouse', { sql: sql_, connection: 'sample', export: 'csv' });
    const refusedExport = (sql_: string) => callError(h.clients.a, 'query_lakehouse', { sql: sql_, connection: 'sample', export: 'csv' });
    assert.equal((await query('SELECT * FROM events LIMIT 10')).rows.length, 10);
    assert.equal((await exported('SELECT * FROM events LIMIT 10')).export?.rows, 10);
    assert.equal((await exported('SELECT * FROM events LIMIT 10 OFFSET 5')).export?.rows, 10);
    assert.ok((await call(h.clients.a, 'explain_sql', { sql: 'SELECT * FROM events LIMIT 10', connection: 'sample', analyze: true })).plan);
    // Without a constant LIMIT the whole table is still the estimate.
    for (const unbounded of ['SELECT * FROM events', 'SELECT * FROM events LIMIT 10%', 'SELECT * FROM events OFFSET 5']) {
      assert.equal((await refusedExport(unbounded)).code, 'scan_budget_exceeded', unbounded);
    }
    // Nor does a LIMIT of SQL run from a string (query()), which the statement's parse does not show.
    const hidden = "SELECT count(DISTINCT user_id) FROM query('SELECT user_id FROM events LIMIT 1000000000'), (SELECT 1 LIMIT 1)";
    assert.equal((await refusal(hidden)).code, 'scan_budget_exceeded');
    // A LIMIT inside a subquery does not bound the outer scan.
    const nested = 'SELECT * FROM events WHERE user_id IN (SELECT user_id FROM users LIMIT 5)';
    assert.equal((await refusedExport(nested)).code, 'scan_budget_exceeded');
  });

  it("an environment's own table: estimated from its current version's files", async () => {
    const load = async (rows: string) => {
      const response = await fetch(`${h.servers.a.url}/api/v1/lakehouse/tables/visits/rows`, {
        method: 'POST',
        headers: { authorization: `Bearer ${h.servers.a.tokens.readWrite}`, 'content-type': 'text/csv' },
        body: `at,page\n${rows}`,
      });
      assert.equal(response.status, 200, await response.text());
    };
    const ALL = 'SELECT page, count(*) FROM visits GROUP BY 1';
    const estimate = async () => (await call(h.clients.a, 'explain_sql', { sql: ALL })).scan!;
    await load('2026-01-01T00:00:00Z,/a\n2026-01-02T00:00:00Z,/b\n2026-01-03T00:00:00Z,/c\n');
    assert.equal((await estimate()).rows, 3);
    await budget({ rows: 5 });
    assert.equal((await call(h.clients.a, 'query_lakehouse', { sql: ALL })).rows.length, 3);
    await load('2026-01-04T00:00:00Z,/d\n2026-01-05T00:00:00Z,/e\n2026-01-06T00:00:00Z,/f\n');
    assert.deepEqual([(await estimate()).rows, (await estimate()).over_budget], [6, true]);
    const error = await callError(h.clients.a, 'query_lakehouse', { sql: ALL });
    assert.equal(error.code, 'scan_budget_exceeded');
    assert.match(error.message, /lakehouse\.visits on its time column at/);
  });

  it("another environment's budget does not apply", async () => {
    await budget({ rows: 1 });
    assert.equal((await refusal(FULL)).code, 'scan_budget_exceeded');
    assert.ok((await call(h.clients.b, 'query_lakehouse', { sql: FULL, connection: 'sample' })).rows.length > 0);
    assert.equal((await explain(FULL, h.clients.b)).scan?.over_budget, false);
  });
});

describe('scan budget: every SQL-running tool', () => {
  before(() => budget({ rows: 1 }));
  after(() => budget({}));

  const refused = async (client: Client, tool: Parameters<typeof callError>[1], args: Record<string, unknown>) => {
    const error = await callError(client, tool, args);
    assert.equal(error.code, 'scan_budget_exceeded', `${tool}: ${error.message}`);
  };

  it('query_lakehouse, explain_sql with analyze, and EXPLAIN ANALYZE as a query', async () => {
    await refused(h.clients.a, 'explain_sql', { sql: FULL, connection: 'sample', analyze: true });
    await refused(h.clients.a, 'query_lakehouse', { sql: `EXPLAIN ANALYZE ${FULL}`, connection: 'sample' });
    // A plain EXPLAIN runs nothing, nor does a PRAGMA (which DuckDB cannot EXPLAIN) read any rows: answered.
    assert.ok((await query(`EXPLAIN ${FULL}`)).rows.length > 0);
    assert.ok((await query("PRAGMA table_info('events')")).rows.length > 0);
    assert.ok((await query('DESCRIBE events')).rows.length > 0);
    assert.equal((await refusal('SUMMARIZE events')).code, 'scan_budget_exceeded');
  });

  it('query_semantic_model, query_funnel, query_retention, query_segmentation, list_events', async () => {
    await refused(h.clients.a, 'query_semantic_model', { model: 'product_events', measures: ['events'], dimensions: ['event'] });
    await refused(h.clients.a, 'query_funnel', { steps: [{ event: 'signup' }, { event: 'purchase' }], range: '2000-01-01..2100-01-01' });
    await refused(h.clients.a, 'query_retention', { cohort: 'signup', return: 'feature_used', range: '2000-01-01..2100-01-01' });
    await refused(h.clients.a, 'query_segmentation', {
      event: 'purchase',
      measure: 'count',
      interval: 'week',
      range: '2000-01-01..2100-01-01',
    });
    await refused(h.clients.a, 'list_events', { connection: 'sample', table: 'events', from: '2000-01-01T00:00:00Z' });
  });

  it("an insight's runs (render_insight)", async () => {
    await budget({});
    const insight = await call(writer, 'create_insight', {
      title: 'Events by name',
      connection: 'sample',
      sql: FULL,
      chart: { kind: 'bar', x: 'event', y: 'users' },
    });
    await budget({ rows: 1 });
    await refused(writer, 'render_insight', { id: insight.id });
  });

  it("a scheduled task's run (its evaluation, as the job runs it)", async () => {
    const definition = {
      kind: 'monitor',
      sql: 'SELECT count(DISTINCT user_id) FROM events',
      connection: 'sample',
      op: 'gt',
      threshold: 1,
      granularity: 'day',
      sensitivity: 3,
      season: 7,
      check_last: 1,
      horizon: 1,
    } as FilledDefinition;
    const context = {
      db: h.database.db,
      lakehouse: h.lakehouse,
      environmentId: h.env.a.id,
      timeZone: 'UTC',
      slot: new Date(),
      timeoutMs: 15_000,
      signal: new AbortController().signal,
    };
    await assert.rejects(evaluate(definition, context), { code: 'scan_budget_exceeded' });
    assert.equal((await evaluate(definition, { ...context, environmentId: h.env.b.id })).finding, true, 'runs in the other');
  });

  it('REST answers a problem document with the code', async () => {
    const response = await fetch(`${h.servers.a.url}/api/v1/lakehouse/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.servers.a.tokens.read}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sql: FULL, connection: 'sample' }),
    });
    assert.equal(response.status, 400);
    const problem = (await response.json()) as { code: string; detail: string };
    assert.equal(problem.code, 'scan_budget_exceeded');
    assert.match(problem.detail, /scan budget of 1 row per statement/);
  });

  it('get_session_context tells the budget, and still answers (its time ranges are the server’s own statements)', async () => {
    const context = await call(h.clients.a, 'get_session_context', {});
    assert.deepEqual(context.scan_budget, { rows: 1 });
    assert.ok(context.time_ranges.length > 0);
    assert.equal((await call(h.clients.b, 'get_session_context', {})).scan_budget, undefined, 'unlimited: absent');
  });
});

describe('scan budget: an external PostgreSQL connection', () => {
  after(() => budget({}));
  const ALL = 'SELECT id, created_at, note FROM orders';

  it("plans with PostgreSQL's estimate (rows, rows × width) and refuses over the budget", async () => {
    const { scan } = await explain(ALL, h.clients.a, 'warehouse');
    assert.equal(scan?.rows, 5_000);
    assert.ok((scan?.bytes ?? 0) >= 5_000 * 40, `rows × width: ${scan?.bytes}`);
    await budget({ rows: 5_000 });
    assert.equal((await query(ALL, 'warehouse')).rows.length, 100);
    await budget({ rows: 4_999 });
    const error = await refusal(ALL, 'warehouse');
    assert.equal(error.code, 'scan_budget_exceeded');
    assert.match(error.message, /TABLESAMPLE SYSTEM/);
    // A LIMIT reads its share of the scan, its OFFSET rows included.
    assert.equal((await query(`${ALL} LIMIT 10`, 'warehouse')).rows.length, 10);
    assert.equal((await explain(`${ALL} LIMIT 10`, h.clients.a, 'warehouse')).scan?.rows, 10);
    assert.equal((await refusal(`${ALL} LIMIT 10 OFFSET 4990`, 'warehouse')).code, 'scan_budget_exceeded');
    // A filtered scan counts its estimate whole: the filter may drop every row it reads before the LIMIT is met.
    assert.equal((await refusal(`${ALL} WHERE id > 0 LIMIT 10`, 'warehouse')).code, 'scan_budget_exceeded');
    // Through the index, ORDER BY id LIMIT 10 reads its 10 rows; WITH TIES reads the whole group of ties past them.
    assert.equal((await query(`${ALL} ORDER BY id LIMIT 10`, 'warehouse')).rows.length, 10);
    assert.equal((await refusal(`${ALL} ORDER BY id FETCH FIRST 10 ROWS WITH TIES`, 'warehouse')).code, 'scan_budget_exceeded');
    // A count the planner cannot know it guesses at a tenth of the rows; the statement may read them all.
    assert.equal((await refusal(`${ALL} LIMIT (SELECT 100000)`, 'warehouse')).code, 'scan_budget_exceeded');
    const recent = `SELECT id FROM orders WHERE created_at >= now() - interval '1 hour'`;
    assert.ok((await explain(recent, h.clients.a, 'warehouse')).scan!.rows < 4_999);
    assert.ok((await query(recent, 'warehouse')).rows.length > 0);
  });
});
