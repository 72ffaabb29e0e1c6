import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { ToolIO } from '../../../src/generated/handlers.js';
import { call, callError, startLakehouseHarness, type LakehouseHarness } from '../lakehouse/harness.js';

// optimize_sql on the sample (DuckDB) and on an external PostgreSQL connection: each rule's finding where it
// applies and not where it does not, and the rewrite run beside the original: the same rows, a lower cost.

type Advice = ToolIO['optimize_sql']['output'];

let h: LakehouseHarness;
let recent: string;
before(async () => {
  h = await startLakehouseHarness({ warehouse: true });
  const last = await call(h.clients.a, 'query_lakehouse', { connection: 'sample', sql: 'SELECT max(occurred_at)::VARCHAR FROM events' });
  recent = `TIMESTAMPTZ '${String(last.rows[0]?.[0])}' - INTERVAL 7 DAY`;
  // A warehouse table of 200,000 rows for the PostgreSQL rules.
  await sql
    .raw(
      `CREATE TABLE ${h.env.a.schema}.orders AS
         SELECT g AS id, g % 5000 AS customer_id, timestamptz '2026-01-01' + g * interval '1 minute' AS ordered_at, (g % 97)::numeric AS amount
           FROM generate_series(1, 200000) g;
       ANALYZE ${h.env.a.schema}.orders`,
    )
    .execute(h.database.db);
});
after(async () => {
  await h?.close();
});

const advise = (statement: string, connection = 'sample') => call(h.clients.a, 'optimize_sql', { sql: statement, connection });
const rules = (advice: Advice) => advice.findings.map((f) => f.rule);
const finding = (advice: Advice, rule: string) => advice.findings.find((f) => f.rule === rule)?.message ?? '';

/** The rows of a statement, sorted, as text: a multiset to compare. */
async function rowsOf(statement: string, connection = 'sample'): Promise<string[]> {
  const result = await call(h.clients.a, 'query_lakehouse', { sql: statement, connection, limit: 10_000 });
  assert.equal(result.truncated, false);
  return result.rows.map((r) => JSON.stringify(r)).sort();
}

describe('optimize_sql: findings of a DuckDB plan', () => {
  it('full_scan: a scan of every event names the time column that would prune it; a time filter clears it', async () => {
    const scan = await advise('SELECT event, count(*) FROM events GROUP BY event');
    assert.match(finding(scan, 'full_scan'), /Reads all ~[\d,]+ rows of events: a filter on occurred_at/);
    assert.equal(scan.cost_unit, 'rows');
    assert.ok(scan.estimated_cost > 1_000_000);
    const filtered = await advise(`SELECT event, count(*) FROM events WHERE occurred_at >= ${recent} GROUP BY event`);
    assert.ok(!rules(filtered).includes('full_scan'), JSON.stringify(filtered.findings));
    const small = await advise('SELECT plan, count(*) FROM users GROUP BY plan');
    assert.ok(!rules(small).includes('full_scan'), 'a small table is no finding');
  });

  it('select_star: SELECT * of the wide events table, not a named column list nor a * inside a subquery', async () => {
    const star = await advise(`SELECT * FROM events WHERE occurred_at >= ${recent} LIMIT 10`);
    assert.match(finding(star, 'select_star'), /every column of events \(6 columns, JSON among them\)/);
    const named = await advise(`SELECT event_id, event FROM events WHERE occurred_at >= ${recent} LIMIT 10`);
    assert.ok(!rules(named).includes('select_star'));
    const inner = await advise(`SELECT count(*) FROM (SELECT * FROM events WHERE occurred_at >= ${recent}) t`);
    assert.ok(!rules(inner).includes('select_star'));
  });

  it('exploding_join: a join whose estimate dwarfs both inputs; a key join is no finding', async () => {
    const cross = await advise('SELECT count(*) FROM users a, sessions b');
    assert.match(finding(cross, 'exploding_join'), /cross join of ~[\d,]+ and ~[\d,]+ rows is estimated at ~[\d,]+ rows/);
    const keyed = await advise('SELECT u.plan, count(*) FROM sessions s JOIN users u USING (user_id) GROUP BY u.plan');
    assert.ok(!rules(keyed).includes('exploding_join'), JSON.stringify(keyed.findings));
  });

  it('sort_spill: sorting more than the worker memory holds; a small sort or a top-N is no finding', async () => {
    const spill = await advise('SELECT a.user_id, b.user_id, a.country FROM users a, users b ORDER BY 1, 2');
    assert.match(finding(spill, 'sort_spill'), /Sorts ~[\d,]+ rows of \d+ columns \(about [\d,]+ MB\) with 1,024 MB of worker memory/);
    const small = await advise('SELECT user_id, signed_up_at FROM users ORDER BY signed_up_at');
    assert.ok(!rules(small).includes('sort_spill'));
    const topN = await advise('SELECT a.user_id, b.user_id FROM users a, users b ORDER BY 1, 2 LIMIT 10');
    assert.ok(!rules(topN).includes('sort_spill'));
  });

  it('distinct_count: count(DISTINCT) over every event is advised an estimate, with no rewrite', async () => {
    const many = await advise('SELECT count(DISTINCT user_id) FROM events');
    assert.match(finding(many, 'distinct_count'), /approx_count_distinct/);
    assert.equal(many.rewrite, undefined);
    const few = await advise('SELECT count(DISTINCT plan) FROM users');
    assert.ok(!rules(few).includes('distinct_count'));
  });

  it('having_filter: a HAVING condition on the group key, not one on an aggregate', async () => {
    const keyed = await advise(
      `SELECT event, count(*) AS n FROM events WHERE occurred_at >= ${recent} GROUP BY event HAVING event <> 'page_view'`,
    );
    assert.match(finding(keyed, 'having_filter'), /HAVING event <> 'page_view' filters on the group key event: put it in WHERE/);
    const aggregate = await advise(
      `SELECT event, count(*) AS n FROM events WHERE occurred_at >= ${recent} GROUP BY event HAVING count(*) > 10`,
    );
    assert.ok(!rules(aggregate).includes('having_filter'));
  });
});

describe('optimize_sql: the rewrite returns the same rows at a lower cost', () => {
  it('drops an ORDER BY without LIMIT from a subquery the outer query groups', async () => {
    const original = `SELECT event, count(*) AS n, count(DISTINCT user_id) AS users
      FROM (SELECT event, user_id FROM events WHERE occurred_at >= ${recent} ORDER BY occurred_at DESC) recent
      GROUP BY event ORDER BY event`;
    const advice = await advise(original);
    assert.ok(advice.rewrite, JSON.stringify(advice));
    assert.doesNotMatch(advice.rewrite.sql, /ORDER BY occurred_at/);
    assert.match(advice.rewrite.sql, /GROUP BY event ORDER BY event$/);
    assert.ok(advice.rewrite.estimated_cost < advice.estimated_cost, `${advice.rewrite.estimated_cost} < ${advice.estimated_cost}`);
    assert.match(finding(advice, 'subquery_order_by'), /estimated cost [\d,]+ → [\d,]+/);
    assert.deepEqual(await rowsOf(advice.rewrite.sql), await rowsOf(original));
  });

  it('drops it under IN and under a one-row aggregate too', async () => {
    const inList = `SELECT count(*) FROM users WHERE user_id IN (SELECT user_id FROM events WHERE event = 'purchase' ORDER BY occurred_at)`;
    const one = await advise(inList);
    assert.ok(one.rewrite && one.rewrite.estimated_cost < one.estimated_cost);
    assert.deepEqual(await rowsOf(one.rewrite.sql), await rowsOf(inList));
    const total = `SELECT count(*), max(occurred_at) FROM (SELECT occurred_at FROM events WHERE event = 'signup' ORDER BY user_id) s`;
    const two = await advise(total);
    assert.ok(two.rewrite && two.rewrite.estimated_cost < two.estimated_cost);
    assert.deepEqual(await rowsOf(two.rewrite.sql), await rowsOf(total));
  });

  it('keeps the ORDER BY wherever its order can be seen', async () => {
    for (const statement of [
      // the outer query takes the first rows in the subquery's order
      `SELECT * FROM (SELECT event, occurred_at FROM events ORDER BY occurred_at) t LIMIT 5`,
      // nothing groups: the answer's order is the subquery's
      `SELECT event FROM (SELECT event, occurred_at FROM events WHERE occurred_at >= ${recent} ORDER BY occurred_at) t`,
      // an order-sensitive aggregate reads it
      `SELECT user_id, string_agg(event, ',') FROM (SELECT user_id, event FROM events WHERE user_id < 10 ORDER BY occurred_at) t GROUP BY user_id`,
      // a window reads it
      `SELECT event, count(*) OVER () FROM (SELECT event FROM events WHERE user_id < 10 ORDER BY occurred_at) t GROUP BY event`,
      // the subquery's own LIMIT needs it
      `SELECT event, count(*) FROM (SELECT event FROM events ORDER BY occurred_at LIMIT 100) t GROUP BY event`,
    ]) {
      const advice = await advise(statement);
      assert.equal(advice.rewrite, undefined, statement);
      assert.ok(!rules(advice).includes('subquery_order_by'), statement);
    }
  });
});

describe('optimize_sql on an external PostgreSQL connection', () => {
  it("reads PostgreSQL's plan: its cost, a full scan, the rewrite with a lower planner cost and the same rows", async () => {
    const scan = await advise('SELECT customer_id, sum(amount) FROM orders GROUP BY customer_id', 'warehouse');
    assert.equal(scan.cost_unit, 'postgres');
    assert.match(finding(scan, 'full_scan'), /Reads all of orders \(~200,000 rows\)/);
    const original = 'SELECT customer_id, count(*) FROM (SELECT customer_id FROM orders ORDER BY ordered_at) o GROUP BY customer_id';
    const advice = await advise(original, 'warehouse');
    assert.ok(advice.rewrite && advice.rewrite.estimated_cost < advice.estimated_cost, JSON.stringify(advice));
    assert.deepEqual(await rowsOf(advice.rewrite.sql, 'warehouse'), await rowsOf(original, 'warehouse'));
    const cross = await advise('SELECT count(*) FROM orders a, orders b WHERE a.customer_id < 3', 'warehouse');
    assert.ok(rules(cross).includes('exploding_join'), JSON.stringify(cross.findings));
  });
});

describe('optimize_sql refuses what query_lakehouse refuses', () => {
  it('answers writes, several statements and catalog reads with the same error as query_lakehouse, and changes nothing', async () => {
    for (const [statement, connection] of [
      ['DELETE FROM events', 'sample'],
      ['DETACH sample', 'sample'],
      ["COPY (SELECT 1) TO '/tmp/x.csv'", 'sample'],
      ['SELECT 1; SELECT 2', 'sample'],
      ["SELECT * FROM read_csv('/etc/passwd')", 'sample'],
      ["SELECT * FROM read_text('/proc/self/environ')", 'sample'],
      ['DROP TABLE orders', 'warehouse'],
      ['SELECT * FROM pg_authid', 'warehouse'],
      ["SELECT pg_read_file('/etc/passwd')", 'warehouse'],
      ['SELECT 1', 'nowhere'],
    ] as const) {
      const asQuery = await callError(h.clients.a, 'query_lakehouse', { sql: statement, connection });
      const advised = (await h.clients.a.callTool({ name: 'optimize_sql', arguments: { sql: statement, connection } })) as {
        isError?: boolean;
      };
      assert.equal(advised.isError, true, `${statement} was advised on`);
      const asAdvice = await callError(h.clients.a, 'optimize_sql', { sql: statement, connection });
      assert.equal(asAdvice.code, asQuery.code, `${statement}: ${asAdvice.message}`);
    }
    const still = await call(h.clients.a, 'query_lakehouse', { sql: 'SELECT count(*) FROM orders', connection: 'warehouse' });
    assert.equal(still.rows[0]?.[0], '200000');
  });

  it('does not read another environment: b has no orders table', async () => {
    const error = await callError(h.clients.b, 'optimize_sql', { sql: 'SELECT * FROM orders', connection: 'warehouse' });
    assert.equal(error.code, 'sql_error');
  });
});
