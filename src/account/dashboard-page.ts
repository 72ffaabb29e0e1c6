import type { DashboardView } from '../assets/dashboards.js';
import { CHART_FONT_FAMILY, type FontFile } from '../assets/chart-font.js';
import { errorBox, escapeHtml, layout } from '../oauth/pages.js';

// The dashboard page (GET /dashboards/{id}): plain server-rendered HTML with no script, every dynamic value
// escaped; the charts are inline SVG drawn on the server (src/assets/chart.ts), the variables a GET form.

/** Rows of a widget's table on the page (the run itself keeps up to 1,000 for the chart). */
export const TABLE_ROWS = 50;

/** The grid of the page: 12 columns over a fixed width; a widget's chart is as wide as its columns. */
const PAGE_WIDTH = 1200;
const GAP = 16;
const CARD_PADDING = 12;
const COLUMN = (PAGE_WIDTH - 11 * GAP) / 12;

/** The chart size of a widget `w` columns wide and `h` rows high (h × 50 px, 160 to 400). */
export function chartSize(w: number, h: number): { width: number; height: number } {
  return {
    width: Math.round(w * COLUMN + (w - 1) * GAP - 2 * CARD_PADDING),
    height: Math.min(400, Math.max(160, h * 50)),
  };
}

type Widget = DashboardView['widgets'][number];

/** What the page shows for one widget: its chart's SVG, or why there is none. */
export interface WidgetChart {
  svg?: string;
  error?: string;
}

const fontFace = (fontUrl: (file: FontFile) => string) => `
@font-face{font-family:"${CHART_FONT_FAMILY}";font-weight:400;src:url("${fontUrl('ibm-plex-sans-400.ttf')}") format("truetype")}
@font-face{font-family:"${CHART_FONT_FAMILY}";font-weight:700;src:url("${fontUrl('ibm-plex-sans-700.ttf')}") format("truetype")}
body{font-family:"${CHART_FONT_FAMILY}",sans-serif}
input,select,button{font-family:inherit}
main.dashboard{max-width:${PAGE_WIDTH}px;margin:2rem auto;padding:1.5rem 2rem;box-sizing:content-box}
.grid{display:grid;grid-template-columns:repeat(12,1fr);gap:${GAP}px;margin-top:1rem}
.widget{border:1px solid #e1e4ea;border-radius:8px;padding:${CARD_PADDING}px;min-width:0;overflow:hidden}
.widget h2{font-size:1.05rem;margin:0 0 .4rem}
.widget figure{margin:0}
.widget svg{display:block;max-width:100%;height:auto}
.widget table{margin:.5rem 0 .25rem;display:block;overflow-x:auto}
.widget th,.widget td{font-size:.85rem;padding:.25rem .5rem;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums}
form.variables{display:flex;flex-wrap:wrap;gap:.75rem 1.25rem;align-items:flex-end;margin:1rem 0}
form.variables label{margin:0 0 .2rem}
form.variables input,form.variables select{padding:.45rem;border:1px solid #b8bfcc;border-radius:6px;font-size:1rem;min-width:10rem}
form.variables select{width:auto}
form.variables button{margin:0}`;

const cellText = (value: unknown): string => {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value);
};

const NUMERIC = /^(smallint|integer|bigint|numeric|real|double|decimal|hugeint|tinyint|float|oid)/i;

function rowsTable(data: NonNullable<Widget['data']>): string {
  const shown = data.rows.slice(0, TABLE_ROWS);
  const numeric = data.columns.map((c) => NUMERIC.test(c.type));
  const head = data.columns.map((c) => `<th scope="col">${escapeHtml(c.name)}</th>`).join('');
  const body = shown
    .map((row) => `<tr>${row.map((v, i) => `<td${numeric[i] ? ' class="num"' : ''}>${escapeHtml(cellText(v))}</td>`).join('')}</tr>`)
    .join('\n');
  const total = `${data.row_count.toLocaleString('en-US')}${data.truncated ? '+' : ''}`;
  const note =
    data.rows.length > shown.length || data.truncated
      ? `<p class="muted rows-note">The first ${shown.length} of ${total} rows.</p>`
      : `<p class="muted rows-note">${data.row_count === 1 ? '1 row' : `${total} rows`}.</p>`;
  return `<table class="rows"><thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody></table>\n${note}`;
}

function widgetHtml(widget: Widget, chart: WidgetChart | undefined): string {
  const { insight } = widget;
  const heading = insight.chart.title ?? insight.title;
  const parts = [`<h2>${escapeHtml(heading)}</h2>`];
  if (insight.description) parts.push(`<p class="muted">${escapeHtml(insight.description)}</p>`);
  if (widget.error) {
    parts.push(errorBox(widget.error.message));
  } else if (widget.data) {
    if (chart?.svg) parts.push(`<figure class="chart" data-kind="${escapeHtml(insight.chart.kind)}">${chart.svg}</figure>`);
    if (chart?.error) parts.push(errorBox(chart.error));
    parts.push(rowsTable(widget.data));
  }
  const state = widget.error?.code === 'insight_deleted' ? ' data-deleted="true"' : '';
  return `<section class="widget" data-insight-id="${escapeHtml(widget.insight_id)}"${state} style="grid-column:${widget.x + 1} / span ${widget.w}">
${parts.join('\n')}
</section>`;
}

export interface DashboardPage {
  view: DashboardView;
  /** The widgets' charts, by position; absent when the widgets were not run. */
  charts?: (WidgetChart | undefined)[];
  /** The form's values: the query string's, else the defaults. */
  values: Record<string, string>;
  /** What is wrong with the form's values (then no widget was run). */
  formError?: string;
  /** The page's own URL, relative to it (the form's action). */
  action: string;
  fontUrl: (file: FontFile) => string;
  email: string;
}

function variablesForm(p: DashboardPage): string {
  if (p.view.variables.length === 0) return '';
  const fields = p.view.variables
    .map((v) => {
      const id = `var-${v.name}`;
      const value = p.values[v.name] ?? '';
      const label = `<label for="${id}">${escapeHtml(v.label ?? v.name)}</label>`;
      // A variable has no type of its own: a boolean default makes it a choice of true or false.
      if (typeof v.default === 'boolean') {
        const options = ['true', 'false'].map((o) => `<option${o === value ? ' selected' : ''}>${o}</option>`).join('');
        return `<div>${label}\n<select id="${id}" name="${escapeHtml(v.name)}">${options}</select></div>`;
      }
      return `<div>${label}\n<input id="${id}" name="${escapeHtml(v.name)}" value="${escapeHtml(value)}" maxlength="1000"></div>`;
    })
    .join('\n');
  return `${errorBox(p.formError)}
<form class="variables" method="get" action="${escapeHtml(p.action)}">
${fields}
<button type="submit">Apply</button>
</form>`;
}

export function dashboardPage(p: DashboardPage): string {
  const { dashboard } = p.view;
  const widgets = p.view.widgets
    .map((w, i) => ({ w, chart: p.charts?.[i] }))
    .sort((a, b) => a.w.y - b.w.y || a.w.x - b.w.x)
    .map(({ w, chart }) => widgetHtml(w, chart));
  const body = p.formError
    ? '<p class="muted">Fix the values above to see the widgets.</p>'
    : widgets.length
      ? `<div class="grid">\n${widgets.join('\n')}\n</div>`
      : '<p class="muted">This dashboard has no widgets yet.</p>';
  return layout(
    dashboard.title,
    `<h1>${escapeHtml(dashboard.title)}</h1>
${dashboard.description ? `<p class="description">${escapeHtml(dashboard.description)}</p>` : ''}
<p class="muted">Signed in as ${escapeHtml(p.email)}.</p>
${variablesForm(p)}
${body}`,
    false,
    { mainClass: 'dashboard', style: fontFace(p.fontUrl) },
  );
}
