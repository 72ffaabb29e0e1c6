import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summarizePlan } from '../../src/lakehouse/plan-summary.js';

// summarizePlan: a PostgreSQL JSON plan (EXPLAIN (FORMAT JSON) …[0]) in a few words for explain_sql.

const NOT_EXECUTED = 'Not executed (pass analyze: true to run it and see actual times).';

const seqScan = (relation: string, rows: number) => ({
  'Node Type': 'Seq Scan',
  'Relation Name': relation,
  'Total Cost': 10,
  'Plan Rows': rows,
});

describe('summarizePlan', () => {
  const cases: { name: string; input: { explained: Record<string, unknown>; analyzed: boolean }; expected: string }[] = [
    { name: 'no plan', input: { explained: {}, analyzed: false }, expected: 'No plan.' },
    { name: 'no plan, even analyzed', input: { explained: { 'Execution Time': 1 }, analyzed: true }, expected: 'No plan.' },
    {
      name: 'a Result node without a table',
      input: { explained: { Plan: { 'Node Type': 'Result', 'Total Cost': 0.01, 'Plan Rows': 1 } }, analyzed: false },
      expected: `Result estimated at 1 rows, cost 0. ${NOT_EXECUTED}`,
    },
    {
      name: 'a node without type, rows or cost',
      input: { explained: { Plan: {} }, analyzed: false },
      expected: `Plan estimated at 0 rows, cost 0. ${NOT_EXECUTED}`,
    },
    {
      name: 'rows and cost rounded, with thousands separators',
      input: { explained: { Plan: { 'Node Type': 'Aggregate', 'Total Cost': 1234567.5, 'Plan Rows': 9999.6 } }, analyzed: false },
      expected: `Aggregate estimated at 10,000 rows, cost 1,234,568. ${NOT_EXECUTED}`,
    },
    {
      name: 'a small sequential scan is not flagged',
      input: { explained: { Plan: seqScan('users', 100_000) }, analyzed: false },
      expected: `Seq Scan estimated at 100,000 rows, cost 10. Reads: Seq Scan on users (~100,000 rows). ${NOT_EXECUTED}`,
    },
    {
      name: 'a large sequential scan is flagged',
      input: { explained: { Plan: seqScan('events', 100_001) }, analyzed: false },
      expected:
        'Seq Scan estimated at 100,001 rows, cost 10. Reads: Seq Scan on events (~100,001 rows). ' +
        'Scans events in full: a filter on an indexed column (such as occurred_at) would read less. ' +
        NOT_EXECUTED,
    },
    {
      name: 'reads of nested nodes in document order, with the index used',
      input: {
        explained: {
          Plan: {
            'Node Type': 'Hash Join',
            'Total Cost': 500,
            'Plan Rows': 2000,
            Plans: [
              seqScan('events', 1_000_000),
              {
                'Node Type': 'Hash',
                Plans: [{ 'Node Type': 'Index Scan', 'Relation Name': 'users', 'Index Name': 'users_pkey', 'Plan Rows': 20_000 }],
              },
              seqScan('sessions', 200_000),
            ],
          },
        },
        analyzed: false,
      },
      expected:
        'Hash Join estimated at 2,000 rows, cost 500. ' +
        'Reads: Seq Scan on events (~1,000,000 rows); Index Scan on users using users_pkey (~20,000 rows); Seq Scan on sessions (~200,000 rows). ' +
        'Scans events, sessions in full: a filter on an indexed column (such as occurred_at) would read less. ' +
        NOT_EXECUTED,
    },
    {
      name: 'analyzed: times and actual rows times loops',
      input: {
        explained: {
          Plan: { 'Node Type': 'Limit', 'Total Cost': 5, 'Plan Rows': 10, 'Actual Rows': 2.5, 'Actual Loops': 4 },
          'Planning Time': 0.123,
          'Execution Time': 12.345,
        },
        analyzed: true,
      },
      expected: 'Limit estimated at 10 rows, cost 5. Ran in 12.3 ms (planning 0.1 ms), returning 10 rows.',
    },
    {
      name: 'analyzed without loops: one loop',
      input: {
        explained: { Plan: { 'Node Type': 'Result', 'Actual Rows': 1234 }, 'Execution Time': 1, 'Planning Time': 2 },
        analyzed: true,
      },
      expected: 'Result estimated at 0 rows, cost 0. Ran in 1.0 ms (planning 2.0 ms), returning 1,234 rows.',
    },
    {
      name: 'analyzed without times: question marks',
      input: { explained: { Plan: { 'Node Type': 'Result' } }, analyzed: true },
      expected: 'Result estimated at 0 rows, cost 0. Ran in ? ms (planning ? ms), returning 0 rows.',
    },
    {
      name: 'times are ignored when not analyzed',
      input: { explained: { Plan: { 'Node Type': 'Result' }, 'Execution Time': 5 }, analyzed: false },
      expected: `Result estimated at 0 rows, cost 0. ${NOT_EXECUTED}`,
    },
  ];
  for (const { name, input, expected } of cases) {
    it(name, () => assert.equal(summarizePlan(input.explained, input.analyzed), expected));
  }
});
