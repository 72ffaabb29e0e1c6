import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatScanBudget, InvalidScanBudget, overBudget, parseScanBudget, scanBudgetRefusal } from '../../src/lakehouse/scan-budget.js';
import { duckPlanScan, pgPlanScan, type DuckOperator, type ScannedTable } from '../../src/lakehouse/scan-estimate.js';

// The cost guard's pure parts: `--scan-budget` values, the estimate read from DuckDB and PostgreSQL plans (as
// EXPLAIN (FORMAT json) writes them), and the refusal's advice.

describe('parseScanBudget', () => {
  const cases: [string, { rows: number | null; bytes: number | null }][] = [
    ['50M', { rows: 50_000_000, bytes: null }],
    ['2500000', { rows: 2_500_000, bytes: null }],
    ['1.1M rows', { rows: 1_100_000, bytes: null }],
    ['2500000 rows', { rows: 2_500_000, bytes: null }],
    ['3k', { rows: 3_000, bytes: null }],
    ['2G', { rows: 2_000_000_000, bytes: null }],
    ['10GB', { rows: null, bytes: 10_000_000_000 }],
    ['512 MiB', { rows: null, bytes: 512 * 2 ** 20 }],
    ['50M, 10GB', { rows: 50_000_000, bytes: 10_000_000_000 }],
    ['10gb,50m', { rows: 50_000_000, bytes: 10_000_000_000 }],
    [' Unlimited ', { rows: null, bytes: null }],
  ];
  for (const [text, expected] of cases) it(`reads ${JSON.stringify(text)}`, () => assert.deepEqual(parseScanBudget(text), expected));

  it('refuses what is not a budget', () => {
    for (const text of [
      '',
      ',',
      '-1',
      '0',
      '0B',
      '1.5',
      '0.0001K',
      'x',
      '10 GB rows',
      '1e6',
      '5M,5M',
      '1GB,2GB',
      '1,2,3',
      '9007199254740992',
      'NaN',
      'Infinity',
    ])
      assert.throws(() => parseScanBudget(text), InvalidScanBudget, text);
  });

  it('formats it back', () => {
    assert.equal(formatScanBudget({ rows: 1_500_000, bytes: 10e9 }), '1,500,000 rows and 10 GB');
    assert.equal(formatScanBudget({ rows: null, bytes: null }), 'unlimited');
  });
});

const events: ScannedTable = {
  name: 'sample.events',
  rows: 1_000_000,
  columns: [
    { name: 'event', type: 'VARCHAR' },
    { name: 'user_id', type: 'BIGINT' },
    { name: 'occurred_at', type: 'TIMESTAMP WITH TIME ZONE' },
  ],
  columnBytes: { event: 1_000, user_id: 4_000, occurred_at: 5_000 },
};
const users: ScannedTable = {
  name: 'sample.users',
  rows: 1_000,
  columns: [
    { name: 'user_id', type: 'BIGINT' },
    { name: 'plan', type: 'VARCHAR' },
  ],
};
const scan = (rows: number | undefined, projections: string[] | string, filters?: string): DuckOperator => ({
  name: 'READ_PARQUET',
  children: [],
  extra_info: {
    Projections: projections,
    ...(filters ? { Filters: filters } : {}),
    ...(rows !== undefined ? { 'Estimated Cardinality': String(rows) } : {}),
  },
});
const node = (name: string, children: DuckOperator[], extra_info: Record<string, unknown> = {}): DuckOperator => ({
  name,
  children,
  extra_info,
});
const plan = (operators: DuckOperator[], streamCap = Infinity) => duckPlanScan(operators, [events, users], () => 0, streamCap);

describe('duckPlanScan', () => {
  it("sums the scans' estimated rows and scales their columns' bytes", () => {
    const result = plan([node('HASH_JOIN', [scan(1_000_000, ['event', 'user_id']), scan(1_000, 'plan')])]);
    assert.equal(result.rows, 1_001_000);
    assert.equal(result.scans[0]?.table, 'sample.events');
    assert.equal(result.scans[0]?.bytes, 5_000);
    assert.equal(result.scans[1]?.table, 'sample.users');
    assert.equal(result.bytes, undefined, "users' sizes are unknown: so are the statement's bytes");
  });

  it('counts filtered columns as read, and a filtered scan at its estimate', () => {
    const result = plan([node('HASH_GROUP_BY', [scan(200_000, 'event', "occurred_at>='2026-01-01'")])]);
    assert.deepEqual(result.scans[0], {
      table: 'sample.events',
      rows: 200_000,
      bytes: 1_200,
      filtered: true,
      time_column: 'occurred_at',
    });
  });

  it("counts an unfiltered scan of a table whose footers were read at the table's rows, a filtered one at most those", () => {
    assert.equal(plan([scan(2_000, 'event')]).rows, 1_000_000, 'DuckDB guessed for unopened files');
    assert.equal(plan([scan(5_000_000, 'event', "event='x'")]).rows, 1_000_000);
    assert.equal(plan([scan(2_000, 'plan')]).rows, 2_000, "users' footers are unknown: DuckDB's estimate");
  });

  it('is not fooled by a statement that names a small table and reads a large one it hides (query(…))', () => {
    const smallUsers: ScannedTable = { ...users, columnBytes: { user_id: 10, plan: 10 } };
    // The SQL names only users; the scan of user_id is events', whose footers DuckDB read (its count is exact).
    const usersFirst = (name: string) => (name === 'sample.users' ? 0 : 2);
    const hidden = duckPlanScan([scan(1_000_000, 'user_id')], [events, smallUsers], usersFirst, Infinity);
    assert.equal(hidden.rows, 1_000_000);
    assert.equal(hidden.scans[0]?.table, 'sample.users', 'the name it gives');
    assert.ok((hidden.scans[0]?.bytes ?? 0) >= 10_000, 'bytes scale with the rows read');
    // A filtered scan is capped by the largest table it could be, not by the one the SQL names.
    const filtered = duckPlanScan([scan(200_000, 'user_id', 'user_id>5')], [events, smallUsers], usersFirst, Infinity);
    assert.equal(filtered.rows, 200_000);
    // DuckDB's guess for files it has not opened (no table has that count) still gives way to the footers'.
    assert.equal(duckPlanScan([scan(2_000, 'user_id')], [events, smallUsers], usersFirst, Infinity).rows, 1_000);
  });

  it('ignores scans of intermediate results and metadata answers', () => {
    assert.equal(plan([node('COLUMN_DATA_SCAN', [], { 'Estimated Cardinality': '1' })]).rows, 0);
    assert.equal(plan([node('CTE_SCAN', [], { 'Estimated Cardinality': '9999' })]).rows, 0);
  });

  it('caps a scan streamed to the answer, not one under a sort or with a filter', () => {
    assert.equal(plan([node('PROJECTION', [scan(1_000_000, 'event')])], 5_000).rows, 5_000);
    assert.equal(plan([node('STREAMING_LIMIT', [scan(1_000_000, 'event')])], 5_000).rows, 5_000);
    assert.equal(plan([node('ORDER_BY', [scan(1_000_000, 'event')])], 5_000).rows, 1_000_000);
    assert.equal(plan([node('PROJECTION', [scan(200_000, 'event', "event='x'")])], 5_000).rows, 200_000);
  });

  it('counts a SYSTEM sample as its share, other samples as the whole table', () => {
    const system = node('STREAMING_SAMPLE', [scan(0, 'event')], { 'Sample Method': 'System: 10.000000%' });
    assert.equal(plan([node('HASH_GROUP_BY', [system])]).rows, 100_000);
    const bernoulli = node('STREAMING_SAMPLE', [scan(0, 'event')], { 'Sample Method': 'Bernoulli: 10.000000%' });
    assert.equal(plan([bernoulli]).rows, 1_000_000);
    assert.equal(plan([node('RESERVOIR_SAMPLE', [scan(0, 'event')], { 'Sample Size': '100 rows' })]).rows, 1_000_000);
  });

  it("counts a Top-N's late materialization as its N rows", () => {
    const topN = node('TOP_N', [scan(1_000_000, 'occurred_at', 'optional: Dynamic Filter (occurred_at)')], { Top: '5' });
    const join = node('HASH_JOIN', [scan(1_000_000, ['event', 'user_id', 'occurred_at']), topN], {
      'Join Type': 'SEMI',
      Conditions: ['file_index = file_index', 'file_row_number = file_row_number'],
    });
    const result = plan([node('ORDER_BY', [join])]);
    assert.equal(result.rows, 1_000_005);
    assert.equal(result.scans[1]?.filtered, false, 'a dynamic filter is not a filter of the SQL');
  });

  it("caps the scans streamed into a LIMIT at the statement's largest LIMIT and a row group, wherever the LIMIT is", () => {
    const limits = { rows: 15, readAhead: 1_000 };
    const limited = (operators: DuckOperator[]) => duckPlanScan(operators, [events, users], () => 0, Infinity, limits);
    // An export of SELECT * … LIMIT 10 OFFSET 5: the LIMIT finds the row numbers, the wide scan fetches those.
    const lateMaterialized = node('ORDER_BY', [
      node('HASH_JOIN', [scan(1_000_000, ['event', 'user_id']), node('STREAMING_LIMIT', [scan(1_000_000, [])])], {
        'Join Type': 'SEMI',
        Conditions: ['file_index = file_index', 'file_row_number = file_row_number'],
      }),
    ]);
    assert.deepEqual(
      limited([lateMaterialized]).scans.map((s) => s.rows),
      [15, 1_015],
    );
    assert.equal(plan([lateMaterialized]).rows, 2_000_000, 'without the LIMITs known, the whole table twice');
    assert.equal(limited([node('STREAMING_LIMIT', [scan(1_000_000, 'event')])]).rows, 1_015);
    // Not a scan read through a node that needs all its input, nor one with a filter.
    assert.equal(limited([node('STREAMING_LIMIT', [node('HASH_GROUP_BY', [scan(1_000_000, 'event')])])]).rows, 1_000_000);
    assert.equal(limited([node('LIMIT', [scan(200_000, 'event', "event='x'")])]).rows, 200_000);
    // A LIMIT deep in the plan bounds its own input only.
    const join = node('HASH_JOIN', [scan(1_000_000, 'user_id'), node('LIMIT', [scan(2_000, 'plan')])]);
    assert.deepEqual(
      limited([join]).scans.map((s) => s.rows),
      [1_000_000, 1_015],
    );
  });
});

describe('pgPlanScan', () => {
  it("sums the scan nodes' Plan Rows, and rows × width", () => {
    const explained = {
      Plan: {
        'Node Type': 'Hash Join',
        'Plan Rows': 10,
        'Plan Width': 100,
        Plans: [
          { 'Node Type': 'Seq Scan', 'Relation Name': 'orders', 'Plan Rows': 5_000, 'Plan Width': 48 },
          {
            'Node Type': 'Hash',
            Plans: [{ 'Node Type': 'Index Scan', 'Relation Name': 'users', 'Plan Rows': 10, 'Plan Width': 8, 'Index Cond': '(id < 10)' }],
          },
        ],
      },
    };
    const result = pgPlanScan(explained, true);
    assert.equal(result.rows, 5_010);
    assert.equal(result.bytes, 5_000 * 48 + 80);
    assert.deepEqual(
      result.scans.map((s) => [s.table, s.filtered]),
      [
        ['orders', false],
        ['users', true],
      ],
    );
  });

  const seqScan = (rows: number, extra: Record<string, unknown> = {}) => ({
    'Node Type': 'Seq Scan',
    'Relation Name': 'orders',
    'Plan Rows': rows,
    'Plan Width': 10,
    'Startup Cost': 0,
    'Total Cost': 100,
    ...extra,
  });
  const limit = (totalCost: number, input: Record<string, unknown>, rows = 10) => ({
    Plan: { 'Node Type': 'Limit', 'Plan Rows': rows, 'Startup Cost': 0, 'Total Cost': totalCost, Plans: [input] },
  });

  it('counts a scan under a Limit at the share PostgreSQL costs the Limit to read, its OFFSET included', () => {
    assert.equal(pgPlanScan(limit(0.2, seqScan(5_000)), true).rows, 10, 'LIMIT 10');
    assert.equal(pgPlanScan(limit(0.2, seqScan(5_000)), false).rows, 5_000, 'a LIMIT the planner guessed at (LIMIT (SELECT …))');
    assert.equal(pgPlanScan(limit(80.2, seqScan(5_000)), true).rows, 4_010, 'LIMIT 10 OFFSET 4000 reads 4,010 rows');
    const subquery = { 'Node Type': 'Subquery Scan', 'Startup Cost': 0, 'Total Cost': 100, Plans: [seqScan(5_000)] };
    assert.equal(pgPlanScan(limit(0.2, subquery), true).rows, 10, 'through a node that streams');
  });

  it('counts a filtered scan under a Limit whole: its filter may drop every row it reads', () => {
    const filtered = seqScan(1_667, { Filter: '(random() < 0)' });
    assert.equal(pgPlanScan(limit(0.6, filtered), true).rows, 1_667);
    const subquery = { 'Node Type': 'Subquery Scan', Filter: '(x.r < 0)', 'Startup Cost': 0, 'Total Cost': 100, Plans: [seqScan(5_000)] };
    assert.equal(pgPlanScan(limit(0.2, subquery), true).rows, 5_000, 'nor a scan under a filtering node');
  });

  it('counts an InitPlan under a Limit whole: it runs before the Limit reads anything', () => {
    const initPlan = { ...seqScan(5_000), 'Parent Relationship': 'InitPlan' };
    const outer = { 'Node Type': 'Function Scan', 'Parent Relationship': 'Outer', 'Startup Cost': 0, 'Total Cost': 1e12 };
    const plan_ = { Plan: { 'Node Type': 'Limit', 'Startup Cost': 100, 'Total Cost': 100.01, Plans: [initPlan, outer] } };
    assert.equal(pgPlanScan(plan_, true).rows, 5_000);
  });

  it('counts every row under a Limit over a node that reads all its input first', () => {
    const sort = { 'Node Type': 'Sort', 'Startup Cost': 400, 'Total Cost': 412, Plans: [seqScan(5_000)] };
    assert.equal(pgPlanScan(limit(402, sort), true).rows, 5_000, 'ORDER BY … LIMIT sorts them all');
    const aggregate = { 'Node Type': 'Aggregate', 'Startup Cost': 110, 'Total Cost': 110, Plans: [seqScan(5_000)] };
    assert.equal(pgPlanScan(limit(110, aggregate, 1), true).rows, 5_000);
  });

  it("counts a parallel scan's rows for every process that shares it, not one process's", () => {
    const gather = {
      Plan: { 'Node Type': 'Gather', 'Workers Planned': 2, Plans: [seqScan(416_667, { 'Parallel Aware': true })] },
    };
    assert.equal(pgPlanScan(gather, true).rows, 1_000_001, '2 workers and the leader: a divisor of 2.4');
    const four = { Plan: { 'Node Type': 'Gather Merge', 'Workers Planned': 4, Plans: [seqScan(250_000, { 'Parallel Aware': true })] } };
    assert.equal(pgPlanScan(four, true).rows, 1_000_000, 'from 4 workers on, the leader takes no share');
  });
});

describe('scanBudgetRefusal', () => {
  it('gives the estimate, the budget and the way under: time filter, columns, a sample that fits', () => {
    const estimate = plan([node('HASH_GROUP_BY', [scan(1_000_000, ['event', 'user_id'])])]);
    const budget = { rows: 100_000, bytes: null };
    assert.deepEqual(overBudget(estimate, budget), { rows: true, bytes: false });
    const error = scanBudgetRefusal(estimate, budget, 'duckdb');
    assert.equal(error.code, 'scan_budget_exceeded');
    assert.match(error.message, /estimated to scan ~1,000,000 rows \(~5\.0 KB\), most of it in sample\.events/);
    assert.match(error.message, /scan budget of 100,000 rows per statement/);
    assert.match(
      error.message,
      /filter sample\.events on its time column occurred_at \(e\.g\. WHERE occurred_at >= now\(\) - INTERVAL 30 DAY\)/,
    );
    assert.match(error.message, /FROM events TABLESAMPLE 9%/);
    assert.match(
      scanBudgetRefusal(estimate, budget, 'postgres').message,
      /TABLESAMPLE SYSTEM \(9\).*interval '30 days'|interval '30 days'.*TABLESAMPLE SYSTEM \(9\)/,
    );
  });

  it('names only the limits passed, and bytes advice when bytes are over', () => {
    const estimate = { rows: 10, bytes: 2_000_000, scans: [{ rows: 10, bytes: 2_000_000, filtered: true }] };
    const error = scanBudgetRefusal(estimate, { rows: 1_000, bytes: 1_000_000 }, 'duckdb');
    assert.match(error.message, /scan budget of 1\.0 MB per statement/);
    assert.match(error.message, /narrow its filters/);
    assert.match(error.message, /bytes count per column read/);
  });
});
