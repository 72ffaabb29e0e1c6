import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { vegaLiteSpec, vegaSvg, type ChartSort, type ChartSpec } from '../../src/assets/chart.js';
import type { QueryResult } from '../../src/lakehouse/sandbox.js';

// Bar and line charts of categories keep the rows' order (the SQL's ORDER BY) unless the chart spec sorts.

const result = (x: string, y: string, rows: [string, number][]): QueryResult => ({
  columns: [
    { name: x, type: 'text' },
    { name: y, type: 'bigint' },
  ],
  rows,
  row_count: rows.length,
  truncated: false,
  elapsed_ms: 0,
});

/** A funnel ordered by step, not by name: alphabetical would be checkout, onboarding, purchase, signup. */
const FUNNEL = result('step', 'users', [
  ['signup', 1000],
  ['onboarding', 700],
  ['checkout', 400],
  ['purchase', 250],
]);
/** A top-N: ORDER BY count DESC. */
const TOP = result('country', 'n', [
  ['US', 900],
  ['DE', 500],
  ['FR', 300],
  ['BR', 100],
]);

/** The labels among `labels` in the SVG, left to right by where they are drawn. */
function drawnOrder(svg: string, labels: string[]): string[] {
  const found = [...svg.matchAll(/<text[^>]*transform="translate\(([\d.]+),[^"]*"[^>]*>([^<]*)<\/text>/g)]
    .filter((m) => labels.includes(m[2] ?? ''))
    .map((m) => ({ x: Number(m[1]), label: m[2] ?? '' }));
  assert.equal(found.length, labels.length, `every label is drawn once: ${JSON.stringify(found)}`);
  return found.sort((a, b) => a.x - b.x).map((f) => f.label);
}

const labelsOf = (r: QueryResult) => r.rows.map((row) => String(row[0]));

describe('chart category order', () => {
  for (const kind of ['bar', 'line'] as const) {
    it(`a ${kind} chart of a funnel draws its steps in row order`, async () => {
      const spec: ChartSpec = { kind, x: 'step', y: 'users' };
      const vl = vegaLiteSpec(FUNNEL, spec, 'Funnel', 400, 300) as { encoding: { x: { sort?: unknown } } };
      assert.equal(vl.encoding.x.sort, null);
      const svg = await vegaSvg(FUNNEL, spec, 'Funnel', 400, 300);
      assert.deepEqual(drawnOrder(svg, labelsOf(FUNNEL)), ['signup', 'onboarding', 'checkout', 'purchase']);
    });
  }

  it('a top-N bar chart keeps ORDER BY count DESC', async () => {
    const svg = await vegaSvg(TOP, { kind: 'bar', x: 'country', y: 'n' }, 'Top', 400, 300);
    assert.deepEqual(drawnOrder(svg, labelsOf(TOP)), ['US', 'DE', 'FR', 'BR']);
  });

  const sorted: [ChartSort, string[]][] = [
    ['data', ['signup', 'onboarding', 'checkout', 'purchase']],
    ['x', ['checkout', 'onboarding', 'purchase', 'signup']],
    ['-x', ['signup', 'purchase', 'onboarding', 'checkout']],
    ['y', ['purchase', 'checkout', 'onboarding', 'signup']],
    ['-y', ['signup', 'onboarding', 'checkout', 'purchase']],
  ];
  for (const [sort, order] of sorted) {
    it(`sort: ${sort} orders the axis by it`, async () => {
      const svg = await vegaSvg(FUNNEL, { kind: 'bar', x: 'step', y: 'users', sort }, 'Funnel', 400, 300);
      assert.deepEqual(drawnOrder(svg, labelsOf(FUNNEL)), order);
    });
  }

  it('a time axis is not sorted as categories', () => {
    const days = { ...FUNNEL, columns: [{ name: 'day', type: 'date' }, FUNNEL.columns[1]!] };
    const vl = vegaLiteSpec(days, { kind: 'line', x: 'day', y: 'users', sort: '-x' }, 'Days', 400, 300) as {
      encoding: { x: { type: string; sort?: unknown } };
    };
    assert.equal(vl.encoding.x.type, 'temporal');
    assert.equal('sort' in vl.encoding.x, false);
  });
});
