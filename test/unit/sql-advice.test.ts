import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { duckCost } from '../../src/lakehouse/advice/plan-findings.js';
import { tokenize, UnreadableSql } from '../../src/lakehouse/advice/sql-tokens.js';
import { removeUnseenSubqueryOrders } from '../../src/lakehouse/advice/subquery-order.js';

// optimize_sql's pure parts: the tokenizer, where the subquery ORDER BY rewrite may and may not apply (the
// integration tests run the rewrites on the sample), and the DuckDB cost.

const rewrite = (sql: string) => removeUnseenSubqueryOrders(sql)?.sql;

describe('tokenize', () => {
  it('skips comments and keeps strings, quoted names and dollar quotes whole, with their depth', () => {
    const tokens = tokenize(`SELECT 'ORDER BY (' AS "a)b", $$x)$$ -- ORDER BY\n FROM (/* ( */ t)`);
    assert.deepEqual(
      tokens.map((t) => [t.kind, t.text, t.depth]),
      [
        ['word', 'SELECT', 0],
        ['string', "'ORDER BY ('", 0],
        ['word', 'AS', 0],
        ['quoted', '"a)b"', 0],
        ['punct', ',', 0],
        ['string', '$$x)$$', 0],
        ['word', 'FROM', 0],
        ['punct', '(', 0],
        ['word', 't', 1],
        ['punct', ')', 0],
      ],
    );
    assert.equal(tokenize("SELECT 'it''s'")[1]?.text, "'it''s'");
  });

  it('refuses what it cannot read rather than guess', () => {
    for (const sql of ["SELECT 'open", 'SELECT (1', 'SELECT 1)', 'SELECT /* open', 'SELECT "open']) {
      assert.throws(() => tokenize(sql), UnreadableSql, sql);
    }
  });
});

describe('removeUnseenSubqueryOrders', () => {
  it('removes the ORDER BY of a subquery its reader groups, aggregates or tests, and nothing else', () => {
    assert.equal(
      rewrite('SELECT a, count(*) FROM (SELECT a FROM t ORDER BY b DESC, c) s GROUP BY a ORDER BY a'),
      'SELECT a, count(*) FROM (SELECT a FROM t) s GROUP BY a ORDER BY a',
    );
    assert.equal(rewrite('SELECT count(*) FROM (SELECT a FROM t ORDER BY a) s'), 'SELECT count(*) FROM (SELECT a FROM t) s');
    assert.equal(rewrite('SELECT * FROM u WHERE id IN (SELECT id FROM t ORDER BY id)'), 'SELECT * FROM u WHERE id IN (SELECT id FROM t)');
    assert.equal(
      rewrite('SELECT u.a, count(*) FROM u JOIN (SELECT a FROM t ORDER BY a) s ON s.a = u.a GROUP BY u.a'),
      'SELECT u.a, count(*) FROM u JOIN (SELECT a FROM t) s ON s.a = u.a GROUP BY u.a',
    );
    // Nested: the reader of the inner one is the middle query, which groups.
    assert.equal(
      rewrite('SELECT * FROM (SELECT a, count(*) FROM (SELECT a FROM t ORDER BY a) i GROUP BY a) m ORDER BY 1'),
      'SELECT * FROM (SELECT a, count(*) FROM (SELECT a FROM t) i GROUP BY a) m ORDER BY 1',
    );
  });

  it('keeps it wherever its order can be seen', () => {
    for (const sql of [
      'SELECT a FROM (SELECT a FROM t ORDER BY a) s',
      'SELECT a FROM (SELECT a FROM t ORDER BY a) s LIMIT 5',
      'SELECT a, count(*) FROM (SELECT a FROM t ORDER BY a) s GROUP BY a LIMIT 5',
      'SELECT a, count(*) FROM (SELECT a FROM t ORDER BY a LIMIT 10) s GROUP BY a',
      'SELECT a, count(*) FROM (SELECT a FROM t ORDER BY a OFFSET 10) s GROUP BY a',
      'SELECT a, count(*) FROM (SELECT DISTINCT ON (a) a, b FROM t ORDER BY a, b) s GROUP BY a',
      "SELECT a, string_agg(b, ',') FROM (SELECT a, b FROM t ORDER BY b) s GROUP BY a",
      'SELECT a, list(b) FROM (SELECT a, b FROM t ORDER BY b) s GROUP BY a',
      'SELECT a, first(b) FROM (SELECT a, b FROM t ORDER BY b) s GROUP BY a',
      'SELECT a, row_number() OVER () FROM (SELECT a FROM t ORDER BY a) s GROUP BY a',
      'SELECT a, count(*) FROM (SELECT a FROM t ORDER BY a) s GROUP BY a UNION ALL SELECT 1, 2',
      'WITH s AS (SELECT a FROM t ORDER BY a) SELECT a, count(*) FROM s GROUP BY a',
      'SELECT (SELECT a FROM t ORDER BY a) AS x',
      "SELECT a, count(*) FROM t WHERE b = 'FROM (SELECT a ORDER BY a)' GROUP BY a",
      'SELECT a FROM t ORDER BY a',
    ]) {
      assert.equal(rewrite(sql), undefined, sql);
    }
  });

  it('says what it removed', () => {
    const removal = removeUnseenSubqueryOrders('SELECT count(*) FROM (SELECT a FROM t ORDER BY a\n  DESC) s');
    assert.deepEqual(removal?.changes, ['Removed "ORDER BY a DESC" from a subquery: its reader does not keep the order.']);
  });
});

describe('duckCost', () => {
  it("sums every operator's estimated rows, a sort twice and a cross product as the product of its inputs", () => {
    const scan = (rows: number) => ({ name: 'READ_PARQUET', extra_info: { 'Estimated Cardinality': String(rows) } });
    assert.equal(duckCost([{ name: 'ORDER_BY', children: [scan(100)] }]), 100 + 200);
    assert.equal(duckCost([{ name: 'CROSS_PRODUCT', children: [scan(10), scan(20)] }]), 200 + 10 + 20);
  });
});
