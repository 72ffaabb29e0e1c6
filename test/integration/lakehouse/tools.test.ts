import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, callError, startLakehouseHarness, type LakehouseHarness } from './harness.js';

// The happy paths of the lakehouse tools on the sample data (DuckDB over Parquet), as an agent would use them,
// and the question of issue 5: "what were the top 5 events last week, and how did signups convert to purchases?"

let h: LakehouseHarness;
before(async () => {
  h = await startLakehouseHarness();
});
after(async () => {
  await h?.close();
});

describe('lakehouse tools on the sample data', () => {
  it('list_connections names the built-in connections', async () => {
    const result = await call(h.clients.a, 'list_connections', {});
    assert.deepEqual(
      result.items.map((c) => [c.name, c.kind]),
      [
        ['lakehouse', 'lakehouse'],
        ['sample', 'sample'],
      ],
    );
  });

  it('answers SELECT count(*) FROM events as the first query of a new environment, on the default connection', async () => {
    const result = await call(h.clients.a, 'query_lakehouse', { sql: 'SELECT count(*) FROM events' });
    assert.deepEqual(result.columns, [{ name: 'count_star()', type: 'BIGINT' }]);
    assert.ok(Number(result.rows[0]?.[0]) > 1_000_000);
    const qualified = await call(h.clients.a, 'query_lakehouse', {
      sql: 'SELECT count(*) FROM sample.main.events e JOIN sample.main.users u USING (user_id)',
    });
    assert.deepEqual(qualified.rows, result.rows);
  });

  it("get_connection describes the sample tables from DuckDB's catalog: columns, types, comments, row counts", async () => {
    const result = await call(h.clients.a, 'get_connection', { name: 'sample' });
    assert.deepEqual(
      result.schemas.map((s) => s.name),
      ['main'],
    );
    const tables = Object.fromEntries(result.schemas.flatMap((s) => s.tables).map((t) => [t.name, t]));
    assert.deepEqual(Object.keys(tables).sort(), ['events', 'pageviews', 'sessions', 'users']);
    assert.deepEqual(
      tables.events?.columns.map((c) => `${c.name} ${c.type}`),
      [
        'event_id BIGINT',
        'event VARCHAR',
        'user_id BIGINT',
        'session_id BIGINT',
        'occurred_at TIMESTAMP WITH TIME ZONE',
        'properties JSON',
      ],
    );
    assert.match(tables.events?.description ?? '', /Funnel: signup/);
    assert.match(tables.events?.columns.find((c) => c.name === 'properties')?.description ?? '', /properties->>'key'/);
    const counted = await call(h.clients.a, 'query_lakehouse', { connection: 'sample', sql: 'SELECT count(*) FROM events' });
    assert.equal(tables.events?.estimated_rows, counted.rows[0]?.[0]);
    assert.deepEqual(
      tables.users?.columns.map((c) => c.name),
      ['user_id', 'signed_up_at', 'plan', 'country'],
    );
    assert.deepEqual(
      tables.sessions?.columns.map((c) => c.name),
      ['session_id', 'user_id', 'started_at', 'ended_at', 'device'],
    );
    assert.deepEqual(
      tables.pageviews?.columns.map((c) => c.name),
      ['pageview_id', 'session_id', 'user_id', 'path', 'viewed_at'],
    );
  });

  it('get_connection profiles one table: nulls, distinct values, least and greatest', async () => {
    const result = await call(h.clients.a, 'get_connection', { name: 'sample', table: 'users' });
    const plan = result.profile?.columns.find((c) => c.name === 'plan');
    assert.equal(plan?.null_fraction, 0);
    assert.equal(plan?.distinct_estimate, 3);
    assert.equal(plan?.min, 'enterprise');
    assert.equal(plan?.max, 'pro');
    assert.equal((await callError(h.clients.a, 'get_connection', { name: 'sample', table: 'nope' })).code, 'not_found');
  });

  it("get_connection on lakehouse shows the environment's own (empty) catalog", async () => {
    const result = await call(h.clients.a, 'get_connection', { name: 'lakehouse' });
    assert.deepEqual(result.schemas, [{ name: 'main', tables: [] }]);
  });

  it('list_events counts event names over a period', async () => {
    const result = await call(h.clients.a, 'list_events', {});
    assert.ok(result.items.length >= 8);
    assert.equal(result.items[0]?.event, 'page_view');
    const total = await call(h.clients.a, 'query_lakehouse', {
      connection: 'sample',
      sql: `SELECT count(*) FROM events WHERE occurred_at >= '${result.from}' AND occurred_at < '${result.to}' AND event = 'page_view'`,
    });
    assert.equal(result.items[0]?.count, total.rows[0]?.[0]);

    // The audit trail records the statement that ran: bound to the same values, it gives the same answer.
    await h.servers.a.audit.flush();
    const audited = await h.database.db
      .selectFrom('audit_log')
      .select('sql')
      .where('operation', '=', 'list_events')
      .orderBy('at', 'desc')
      .executeTakeFirstOrThrow();
    const bound = (audited.sql ?? '').replace('$1', `'${result.from}'`).replace('$2', `'${result.to}'`).replace('$3', '100');
    const rerun = await call(h.clients.a, 'query_lakehouse', { connection: 'sample', sql: bound });
    assert.deepEqual(
      rerun.rows.map(([event, count]) => [event, Number(count)]),
      result.items.map((item) => [item.event, item.count]),
    );
  });

  it('query_lakehouse maps types to JSON faithfully', async () => {
    const result = await call(h.clients.a, 'query_lakehouse', {
      connection: 'sample',
      sql: `SELECT 9007199254740993::BIGINT AS big, 12::BIGINT AS small, 1.10::DECIMAL(5,2) AS num, 42 AS int, 0.5::DOUBLE AS dbl, true AS yes,
                   TIMESTAMPTZ '2025-01-02 03:04:05.678+00' AS ts, '{"a":[1,2]}'::JSON AS doc, NULL::VARCHAR AS nothing, DATE '2025-01-02' AS day,
                   [1, 2] AS list, {'k': 'v'} AS struct`,
    });
    assert.deepEqual(
      result.columns.map((c) => c.type),
      [
        'BIGINT',
        'BIGINT',
        'DECIMAL(5,2)',
        'INTEGER',
        'DOUBLE',
        'BOOLEAN',
        'TIMESTAMP WITH TIME ZONE',
        'JSON',
        'VARCHAR',
        'DATE',
        'INTEGER[]',
        'STRUCT("k" VARCHAR)',
      ],
    );
    assert.deepEqual(result.rows, [
      ['9007199254740993', 12, '1.10', 42, 0.5, true, '2025-01-02T03:04:05.678Z', { a: [1, 2] }, null, '2025-01-02', [1, 2], { k: 'v' }],
    ]);
    assert.equal(result.truncated, false);
    assert.equal(result.next_offset, undefined);
    assert.ok(result.elapsed_ms >= 0);
  });

  it('query_lakehouse pages with limit, truncated and next_offset', async () => {
    const text = 'SELECT user_id FROM users ORDER BY user_id';
    const first = await call(h.clients.a, 'query_lakehouse', { connection: 'sample', sql: text, limit: 3 });
    assert.deepEqual(first.rows, [[1], [2], [3]]);
    assert.equal(first.truncated, true);
    const next = await call(h.clients.a, 'query_lakehouse', { connection: 'sample', sql: text, limit: 3, offset: first.next_offset ?? 0 });
    assert.deepEqual(next.rows, [[4], [5], [6]]);
  });

  it('query_lakehouse caps the bytes of an answer at 1 MiB', async () => {
    const result = await call(h.clients.a, 'query_lakehouse', {
      connection: 'sample',
      sql: "SELECT repeat('x', 10000) FROM range(500)",
    });
    assert.equal(result.truncated, true);
    assert.ok(result.row_count > 90 && result.row_count < 110, String(result.row_count));
  });

  it("validate_sql reports DuckDB's parse and binder errors with their position and hint, without running", async () => {
    const syntax = await call(h.clients.a, 'validate_sql', { sql: 'SELECT event FORM events' });
    assert.equal(syntax.valid, false);
    assert.match(syntax.errors[0]?.message ?? '', /syntax error at or near "events"/);
    assert.equal(syntax.errors[0]?.position, 19);
    const column = await call(h.clients.a, 'validate_sql', { connection: 'sample', sql: '  SELECT nope FROM events' });
    assert.equal(column.valid, false);
    assert.match(column.errors[0]?.message ?? '', /column "nope" not found/);
    assert.equal(column.errors[0]?.position, 10);
    assert.match(column.errors[0]?.hint ?? '', /^Candidate bindings: /);
    const table = await call(h.clients.a, 'validate_sql', { connection: 'sample', sql: 'SELECT *\nFROM  evnts' });
    assert.match(table.errors[0]?.message ?? '', /Table with name evnts does not exist/);
    assert.equal(table.errors[0]?.position, 16);
    assert.equal(table.errors[0]?.hint, 'Did you mean "events"?');
    const ok = await call(h.clients.a, 'validate_sql', {
      connection: 'sample',
      sql: 'WITH e AS (SELECT * FROM events) SELECT count(*) FROM e',
    });
    assert.deepEqual(ok, { valid: true, errors: [], statement_type: 'with_select' });
    const write = await call(h.clients.a, 'validate_sql', { sql: 'DELETE FROM events' });
    assert.equal(write.valid, false);
  });

  it("explain_sql answers DuckDB's JSON plan with estimated rows and a summary, with analyze in the worker", async () => {
    const plain = await call(h.clients.a, 'explain_sql', {
      connection: 'sample',
      sql: "SELECT count(*) FROM events WHERE event = 'signup'",
    });
    assert.equal(plain.plan.engine, 'duckdb');
    assert.ok(Array.isArray(plain.plan.operators));
    assert.match(plain.summary, /Reads: READ_PARQUET \(~[\d,]+ rows, filtered on event='signup'\)/);
    assert.match(plain.summary, /Not executed/);
    const analyzed = await call(h.clients.a, 'explain_sql', {
      connection: 'sample',
      sql: "SELECT count(*) FROM users WHERE plan = 'pro'",
      analyze: true,
    });
    assert.ok('profile' in analyzed.plan);
    assert.match(analyzed.summary, /Ran in [\d.]+ ms, scanning [\d,]+ rows/);
    const write = await callError(h.clients.a, 'explain_sql', { sql: 'DETACH sample' });
    assert.equal(write.code, 'sql_refused');
  });

  it('answers "top 5 events last week, and how signups converted to purchases" with these tools alone', async () => {
    const top = await call(h.clients.a, 'query_lakehouse', {
      connection: 'sample',
      sql: `SELECT event, count(*) AS n FROM events
            WHERE occurred_at >= date_trunc('week', now()) - interval '1 week' AND occurred_at < date_trunc('week', now())
            GROUP BY event ORDER BY n DESC LIMIT 5`,
    });
    assert.equal(top.row_count, 5);
    const funnel = await call(h.clients.a, 'query_lakehouse', {
      connection: 'sample',
      sql: `SELECT count(DISTINCT user_id) FILTER (WHERE event = 'signup') AS signups,
                   count(DISTINCT user_id) FILTER (WHERE event = 'purchase') AS buyers,
                   round(100.0 * count(DISTINCT user_id) FILTER (WHERE event = 'purchase') / count(DISTINCT user_id) FILTER (WHERE event = 'signup'), 1) AS pct
            FROM events WHERE event IN ('signup', 'purchase')`,
    });
    const [signups, buyers, pct] = funnel.rows[0] as [number, number, string];
    assert.equal(signups, 20000);
    assert.ok(Number(buyers) > 1000 && Number(pct) > 5 && Number(pct) < 15, `${buyers} buyers, ${pct}%`);
  });
});
