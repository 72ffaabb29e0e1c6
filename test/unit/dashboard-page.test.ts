import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chartSize, dashboardPage, TABLE_ROWS } from '../../src/account/dashboard-page.js';
import type { DashboardView } from '../../src/assets/dashboards.js';

// The dashboard page's HTML without a server: escaping, the form's controls, the capped table and the grid.

const at = '2026-01-01T00:00:00.000Z';
const insight = (title: string, kind: 'bar' | 'table') => ({
  id: '11111111-1111-4111-8111-111111111111',
  version: 1,
  title,
  description: '',
  sql: 'SELECT 1',
  connection: 'sample',
  parameters: [],
  chart: { kind, x: 'k', y: 'n' },
  created_by: 'user:x',
  created_at: at,
  updated_at: at,
});

function view(rows: number): DashboardView {
  return {
    dashboard: {
      id: 'd',
      version: 1,
      title: 'Q1 <b>review</b>',
      description: '',
      widget_count: 1,
      created_by: 'user:x',
      created_at: at,
      updated_at: at,
    },
    variables: [
      { name: 'country', label: 'Country "code"', default: 'FR' },
      { name: 'paid', default: true },
    ],
    widgets: [
      {
        insight_id: '11111111-1111-4111-8111-111111111111',
        x: 3,
        y: 0,
        w: 9,
        h: 4,
        insight: insight('Rows & more', 'table'),
        data: {
          columns: [
            { name: 'k', type: 'varchar' },
            { name: 'n', type: 'bigint' },
          ],
          rows: Array.from({ length: rows }, (_, i) => [`<k${i}>`, i]),
          row_count: rows,
          truncated: rows >= 1000,
        },
      },
    ],
  };
}

const page = (rows: number, values: Record<string, string> = { country: 'FR', paid: 'true' }) =>
  dashboardPage({
    view: view(rows),
    charts: [undefined],
    values,
    action: 'http://h/dashboards/d',
    fontUrl: (f) => `http://h/fonts/${f}`,
    email: 'a@x',
  });

describe('the dashboard page', () => {
  it('escapes every title, label and value, and has no script', () => {
    const html = page(2, { country: '"><script>x</script>', paid: 'true' });
    assert.match(html, /<h1>Q1 &#60;b&#62;review&#60;\/b&#62;<\/h1>/);
    assert.match(html, /<h2>Rows &#38; more<\/h2>/);
    assert.match(html, /<td>&#60;k0&#62;<\/td><td class="num">0<\/td>/);
    assert.match(html, /Country &#34;code&#34;/);
    assert.doesNotMatch(html, /<script/);
  });

  it('gives a boolean variable a select and the others a text input, with the current values', () => {
    const html = page(1, { country: 'JP', paid: 'false' });
    assert.match(html, /<form class="variables" method="get" action="http:\/\/h\/dashboards\/d">/);
    assert.match(html, /<input id="var-country" name="country" value="JP"/);
    assert.match(html, /<select id="var-paid" name="paid"><option>true<\/option><option selected>false<\/option><\/select>/);
  });

  it(`lists at most ${TABLE_ROWS} rows and says so`, () => {
    assert.match(page(3), /<p class="muted rows-note">3 rows\.<\/p>/);
    const capped = page(1000);
    assert.equal(capped.match(/<tr><td>/g)?.length, TABLE_ROWS);
    assert.match(capped, /The first 50 of 1,000\+ rows\./);
  });

  it('places a widget on the 12-column grid and sizes its chart to its columns', () => {
    assert.match(page(1), /style="grid-column:4 \/ span 9"/);
    assert.deepEqual(chartSize(6, 5), { width: 568, height: 250 });
    assert.deepEqual(chartSize(12, 1), { width: 1176, height: 160 });
    assert.deepEqual(chartSize(1, 50), { width: 61, height: 400 });
  });
});
