import { createRequire } from 'node:module';
import type * as ResvgModule from '@resvg/resvg-js';
import type { TopLevelSpec } from 'vega-lite';
import { AppError } from '../errors.js';
import type { QueryResult } from '../lakehouse/sandbox.js';
import { CHART_FONT_FAMILY, FONT_FILES } from './chart-font.js';

// Charts are drawn on the server, with no browser: a Vega-Lite spec built from the insight's chart spec and
// rows → Vega → SVG (headless View, renderer none) → PNG (resvg, a Rust renderer shipped prebuilt in its npm
// package). `table` and `number` are drawn as SVG directly.

export interface ChartSpec {
  kind: 'table' | 'number' | 'line' | 'bar' | 'area' | 'scatter';
  x?: string;
  y?: string;
  series?: string;
  title?: string;
  /** Order of a category axis: the rows' order (default), or by x or y ascending, or descending with "-". */
  sort?: ChartSort;
}

export type ChartSort = 'data' | 'x' | '-x' | 'y' | '-y';

export interface RenderedChart {
  png: Buffer;
  width: number;
  height: number;
}

const NUMERIC = /^(smallint|integer|bigint|numeric|real|double precision|oid)/;
const TEMPORAL = /^(date|timestamp)/;
// The shipped typeface (chart-font.ts); the fallbacks only matter to a viewer of the SVG without it.
const FONT = `${CHART_FONT_FAMILY}, sans-serif`;

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function columnIndex(result: QueryResult, name: string, role: string): number {
  const index = result.columns.findIndex((c) => c.name === name);
  if (index < 0) {
    throw new AppError(
      'chart_column_missing',
      `The chart's ${role} column "${name}" is not in the result; its columns are ${result.columns.map((c) => c.name).join(', ') || '(none)'}. Fix the chart with update_insight.`,
    );
  }
  return index;
}

const cellText = (value: unknown): string => {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value);
};

/** resvg (a 4 MB native library) is loaded with the first chart, not at start-up. */
let resvgModule: typeof ResvgModule | undefined;
const loadResvg = () => (resvgModule ??= createRequire(import.meta.url)('@resvg/resvg-js') as typeof ResvgModule);

/** Sets the root <svg>'s size to width × height (keeping its drawing, scaled to fit), then rasterizes it. */
function toPng(svg: string, width: number, height: number): RenderedChart {
  const sized = svg.replace(/<svg\b([^>]*)>/, (_match, attributes: string) => {
    const w = /\swidth="([\d.]+)"/.exec(attributes)?.[1] ?? String(width);
    const h = /\sheight="([\d.]+)"/.exec(attributes)?.[1] ?? String(height);
    const rest = attributes.replace(/\s(width|height)="[^"]*"/g, '');
    const viewBox = /\sviewBox=/.test(rest) ? '' : ` viewBox="0 0 ${w} ${h}"`;
    return `<svg${rest}${viewBox} width="${width}" height="${height}">`;
  });
  const rendered = new (loadResvg().Resvg)(sized, {
    fitTo: { mode: 'original' },
    background: 'white',
    font: { loadSystemFonts: false, fontFiles: Object.values(FONT_FILES), defaultFontFamily: CHART_FONT_FAMILY },
  }).render();
  return { png: rendered.asPng(), width: rendered.width, height: rendered.height };
}

function tableSvg(result: QueryResult, title: string, width: number, height: number): string {
  const rowHeight = 24;
  const top = 48;
  const shown = Math.max(0, Math.floor((height - top - 8) / rowHeight) - 1);
  const columns = result.columns.slice(0, 8);
  const colWidth = (width - 16) / Math.max(1, columns.length);
  const cell = (text: string, x: number, y: number, bold = false) =>
    `<text x="${x}" y="${y}" font-family="${FONT}" font-size="13" ${bold ? 'font-weight="bold"' : ''} fill="#222">${escape(text.slice(0, Math.max(4, Math.floor(colWidth / 8))))}</text>`;
  const parts = [`<text x="8" y="28" font-family="${FONT}" font-size="18" font-weight="bold" fill="#111">${escape(title)}</text>`];
  columns.forEach((c, i) => parts.push(cell(c.name, 8 + i * colWidth, top + 16, true)));
  result.rows.slice(0, shown).forEach((row, r) => {
    const y = top + (r + 1) * rowHeight;
    if (r % 2 === 0) parts.push(`<rect x="4" y="${y + 2}" width="${width - 8}" height="${rowHeight}" fill="#f1f4f8"/>`);
    columns.forEach((_c, i) => parts.push(cell(cellText(row[i]), 8 + i * colWidth, y + 18)));
  });
  parts.push(`<line x1="4" y1="${top + 22}" x2="${width - 4}" y2="${top + 22}" stroke="#888"/>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>`;
}

function numberSvg(result: QueryResult, spec: ChartSpec, title: string, width: number, height: number): string {
  const index = spec.y ? columnIndex(result, spec.y, 'y') : 0;
  const value = cellText(result.rows[0]?.[index]);
  const n = Number(value);
  const shown = value !== '' && Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: 2 }) : value || '—';
  const size = Math.min(height / 3, (width * 1.6) / Math.max(1, shown.length));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><rect width="100%" height="100%" fill="white"/>
<text x="${width / 2}" y="${height * 0.25}" text-anchor="middle" font-family="${FONT}" font-size="${Math.min(24, height / 10)}" fill="#444">${escape(title)}</text>
<text x="${width / 2}" y="${height * 0.6}" text-anchor="middle" font-family="${FONT}" font-size="${size}" font-weight="bold" fill="#1f5fbf">${escape(shown)}</text></svg>`;
}

/**
 * vega and vega-lite are loaded with the first chart that needs them, not at start-up: they are hundreds of
 * modules, which cost `npm start` seconds (issue 8, scenario 6) and most processes never draw a chart.
 */
let vegaModules: Promise<[typeof import('vega'), typeof import('vega-lite')]> | undefined;
const loadVega = () => (vegaModules ??= Promise.all([import('vega'), import('vega-lite')]));

/**
 * Vega-Lite's sort of a discrete x axis. Its default is alphabetical, which scrambles a funnel or a top-N
 * the SQL ordered on purpose; `null` keeps the rows' order.
 */
const VEGA_SORT = {
  data: null,
  x: 'ascending',
  '-x': 'descending',
  y: { encoding: 'y', order: 'ascending' },
  '-y': { encoding: 'y', order: 'descending' },
} as const;

/** The Vega-Lite spec of a line, bar, area or scatter chart of `result`. */
export function vegaLiteSpec(result: QueryResult, spec: ChartSpec, title: string, width: number, height: number): TopLevelSpec {
  const x = columnIndex(result, spec.x ?? '', 'x');
  const y = columnIndex(result, spec.y ?? '', 'y');
  const series = spec.series ? columnIndex(result, spec.series, 'series') : undefined;
  const xType = result.columns[x]?.type ?? '';
  const xEncoding = TEMPORAL.test(xType) ? 'temporal' : NUMERIC.test(xType) && spec.kind !== 'bar' ? 'quantitative' : 'ordinal';
  const values = result.rows.map((row) => ({
    x: row[x],
    y: row[y] === null ? null : Number(row[y]),
    ...(series === undefined ? {} : { s: cellText(row[series]) }),
  }));
  const mark = { line: 'line', bar: 'bar', area: 'area', scatter: 'point' }[spec.kind as 'line'];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width,
    height,
    autosize: { type: 'fit', contains: 'padding' },
    background: 'white',
    title,
    config: { font: FONT },
    data: { values },
    mark: { type: mark as 'line', ...(spec.kind === 'line' ? { point: values.length <= 60 } : {}), tooltip: false },
    encoding: {
      x: { field: 'x', type: xEncoding, title: spec.x ?? '', ...(xEncoding === 'ordinal' ? { sort: VEGA_SORT[spec.sort ?? 'data'] } : {}) },
      y: { field: 'y', type: 'quantitative', title: spec.y ?? '' },
      ...(series === undefined ? {} : { color: { field: 's', type: 'nominal', title: spec.series ?? '' } }),
    },
  };
}

/** A line, bar, area or scatter chart of `result` as SVG, drawn by Vega. */
export async function vegaSvg(result: QueryResult, spec: ChartSpec, title: string, width: number, height: number): Promise<string> {
  const vl = vegaLiteSpec(result, spec, title, width, height);
  const [vega, { compile }] = await loadVega();
  const view = new vega.View(vega.parse(compile(vl).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** `result` drawn as the chart spec says, as SVG of width × height (render_insight's PNG and the dashboard pages). */
export async function chartSvg(result: QueryResult, spec: ChartSpec, heading: string, width: number, height: number): Promise<string> {
  if (spec.kind === 'table') return tableSvg(result, heading, width, height);
  if (spec.kind === 'number') return numberSvg(result, spec, heading, width, height);
  return vegaSvg(result, spec, heading, width, height);
}

/** Draws `result` as the chart spec says, as a PNG of exactly width × height pixels. */
export async function renderChart(
  result: QueryResult,
  spec: ChartSpec,
  title: string,
  width: number,
  height: number,
): Promise<RenderedChart> {
  return toPng(await chartSvg(result, spec, spec.title ?? title, width, height), width, height);
}
