import { AppError } from '../errors.js';
import type { ToolHandler } from '../generated/handlers.js';
import type { ChartSpec } from '../assets/chart.js';
import { createInsight } from '../assets/insights.js';
import { eventSource, parseWhere, type EventSource } from '../analytics/event-source.js';
import { funnelSql, OTHER } from '../analytics/funnel.js';
import { retentionSql } from '../analytics/retention.js';
import { segmentationSql } from '../analytics/segmentation.js';
import { resolveAnalyticsRange, type ResolvedRange } from '../analytics/time-range.js';
import { findModel } from '../lakehouse/semantic-models.js';
import type { QueryResult } from '../lakehouse/lakehouse.js';
import type { ResultFormat } from '../lakehouse/results/store.js';
import { insufficientScope } from '../oauth/challenge.js';
import type { ToolContext } from './context.js';
import { exportQuery } from './exports.js';
import { timeZoneOf } from './environment-time-zone.js';

// query_funnel, query_retention and query_segmentation: SQL built by src/analytics/ over a model's event
// table, run in the environment's sandbox as query_lakehouse runs SQL (limits, timeout, cancellation), and
// optionally saved as an insight (the same SQL and a fitting chart) when the token may write.

const TIMEOUT_MS = 30_000;
const MAX_ROWS = 10_000;
const MAX_BYTES = 4 * 1024 * 1024;

interface Prepared {
  source: EventSource;
  range: ResolvedRange;
  /** The table's columns when properties are columns (checked names); undefined with a JSON properties column. */
  columns?: string[];
}

/** `export`: the whole result of the call's SQL as a file of the environment (src/operations/exports.ts). */
async function exported(ctx: ToolContext, format: ResultFormat | undefined, source: EventSource, sql: string) {
  return format ? { export: await exportQuery(ctx, source.connection, sql, format, TIMEOUT_MS) } : {};
}

/** The checks and look-ups every analytics call starts with; save_as without write scope fails before any work. */
async function prepare(ctx: ToolContext, input: { model: string; range: string; save_as?: string }): Promise<Prepared> {
  if (input.save_as !== undefined && !ctx.principal.scopes.has('write')) {
    throw insufficientScope(ctx.config, 'write', ctx.principal.scopes, '`save_as` (saving an insight)');
  }
  const now = Date.now();
  const [{ model }, zone] = await Promise.all([
    findModel(ctx.db, ctx.principal.environmentId, input.model),
    timeZoneOf(ctx.db, ctx.principal.environmentId),
  ]);
  const source = eventSource(model);
  const range = resolveAnalyticsRange(input.range, zone, now);
  let columns: string[] | undefined;
  if (!source.properties) {
    const table = await ctx.lakehouse.table(ctx.principal.environmentId, model.connection as 'sample' | 'lakehouse', model.table, {
      timeoutMs: 10_000,
      signal: ctx.signal,
    });
    columns = table.columns.map((c) => c.name);
  }
  return { source, range, ...(columns ? { columns } : {}) };
}

async function run(ctx: ToolContext, source: EventSource, sql: string, tooMany: string): Promise<QueryResult> {
  ctx.audited.sql = sql;
  const result = await ctx.lakehouse.query(ctx.principal.environmentId, source.connection, sql, {
    limit: MAX_ROWS,
    offset: 0,
    timeoutMs: TIMEOUT_MS,
    maxBytes: MAX_BYTES,
    signal: ctx.signal,
  });
  if (result.truncated) throw new AppError('invalid_query', `The answer has more than ${MAX_ROWS} rows: ${tooMany}.`);
  return result;
}

/** Saves the SQL as an insight with its chart; the insight's id. */
async function save(ctx: ToolContext, title: string | undefined, source: EventSource, sql: string, chart: ChartSpec, what: string) {
  if (title === undefined) return {};
  const insight = await createInsight(
    {
      title,
      description: `${what}; saved by an analytics tool with its range resolved.`,
      sql,
      connection: source.connection,
      chart: { sort: 'data', ...chart },
    },
    ctx,
  );
  return { insight_id: insight.id };
}

/** Rows as objects by column name. */
const objects = (result: QueryResult) =>
  result.rows.map((row) => Object.fromEntries(result.columns.map((c, i) => [c.name, row[i]])) as Record<string, unknown>);
const num = (value: unknown) => (value === null || value === undefined ? null : Number(value));
const echo = (range: ResolvedRange) => ({ range: range.range, time_zone: range.time_zone, from: range.from, to: range.to });

export const queryFunnel: ToolHandler<'query_funnel'> = async (input, ctx) => {
  const { source, range, columns } = await prepare(ctx, input);
  const steps = input.steps.map((s) => ({ event: s.event, where: parseWhere(s.where) }));
  const request = { steps, window: input.window, ...(input.breakdown === undefined ? {} : { breakdown: input.breakdown }) };
  const sql = funnelSql(source, request, range, columns);
  const result = await run(ctx, source, sql, 'ask for fewer steps');
  const rows = objects(result).map((r) => ({
    ...(input.breakdown === undefined ? {} : { breakdown: String(r.breakdown) }),
    step: Number(r.step),
    event: String(r.event),
    users: Number(r.users),
    conversion_from_previous: num(r.conversion_from_previous),
    conversion_from_first: num(r.conversion_from_first),
    median_seconds_to_convert: num(r.median_seconds_to_convert),
  }));
  const chart: ChartSpec = { kind: 'bar', x: 'step_label', y: 'users', sort: 'data', ...(input.breakdown ? { series: 'breakdown' } : {}) };
  return {
    model: source.model,
    range: echo(range),
    window: input.window,
    steps: rows,
    sql,
    elapsed_ms: result.elapsed_ms,
    ...(await exported(ctx, input.export, source, sql)),
    ...(await save(ctx, input.save_as, source, sql, chart, `Funnel ${steps.map((s) => s.event).join(' → ')}`)),
  };
};

export const queryRetention: ToolHandler<'query_retention'> = async (input, ctx) => {
  const { source, range, columns } = await prepare(ctx, input);
  const request = {
    cohort: { event: input.cohort, where: parseWhere(input.cohort_where) },
    return: { event: input.return, where: parseWhere(input.return_where) },
    period: input.period,
    periods: input.periods,
  };
  const sql = retentionSql(source, request, range, columns);
  const result = await run(ctx, source, sql, 'use a longer period, fewer periods or a shorter range');
  const cohorts = new Map<string, { cohort: string; size: number; retained: (number | null)[] }>();
  for (const r of objects(result)) {
    const key = String(r.cohort);
    let cohort = cohorts.get(key);
    if (!cohort) {
      cohort = { cohort: key, size: Number(r.size), retained: new Array<number | null>(input.periods + 1).fill(null) };
      cohorts.set(key, cohort);
    }
    cohort.retained[Number(r.period)] = Number(r.retained_share);
  }
  const chart: ChartSpec = { kind: 'line', x: 'period', y: 'retained_share', series: 'cohort' };
  return {
    model: source.model,
    range: echo(range),
    period: input.period,
    cohorts: [...cohorts.values()],
    sql,
    elapsed_ms: result.elapsed_ms,
    ...(await exported(ctx, input.export, source, sql)),
    ...(await save(ctx, input.save_as, source, sql, chart, `Retention ${input.cohort} → ${input.return} by ${input.period}`)),
  };
};

/** An interval's start as the sandbox returns a local TIMESTAMP, as `YYYY-MM-DD` (or `YYYY-MM-DDTHH:00` by hour). */
function bucketText(value: unknown, hourly: boolean): string {
  const text = value instanceof Date ? value.toISOString() : String(value);
  return hourly ? `${text.slice(0, 10)}T${text.slice(11, 13)}:00` : text.slice(0, 10);
}

export const querySegmentation: ToolHandler<'query_segmentation'> = async (input, ctx) => {
  const { source, range, columns } = await prepare(ctx, input);
  const request = {
    event: input.event,
    where: parseWhere(input.where),
    measure: input.measure,
    interval: input.interval,
    limit: input.limit,
    ...(input.property === undefined ? {} : { property: input.property }),
    ...(input.breakdown === undefined ? {} : { breakdown: input.breakdown }),
  };
  const sql = segmentationSql(source, request, range, columns);
  const result = await run(ctx, source, sql, 'use a longer interval, a shorter range or a smaller limit');
  const series = new Map<string, { total: number; points: [string, number | null][] }>();
  for (const r of objects(result)) {
    const key = input.breakdown === undefined ? '' : String(r.breakdown);
    let s = series.get(key);
    if (!s) series.set(key, (s = { total: 0, points: [] }));
    const value = num(r.value);
    s.total += value ?? 0;
    s.points.push([bucketText(r.bucket, input.interval === 'hour'), value]);
  }
  // Largest first, (other) last.
  const ordered = [...series].sort(
    ([a, x], [b, y]) => Number(a === OTHER) - Number(b === OTHER) || y.total - x.total || a.localeCompare(b),
  );
  const chart: ChartSpec = { kind: 'line', x: 'bucket', y: 'value', ...(input.breakdown ? { series: 'breakdown' } : {}) };
  return {
    model: source.model,
    range: echo(range),
    measure: input.measure,
    interval: input.interval,
    series: ordered.map(([breakdown, s]) => ({ ...(input.breakdown === undefined ? {} : { breakdown }), points: s.points })),
    sql,
    elapsed_ms: result.elapsed_ms,
    ...(await exported(ctx, input.export, source, sql)),
    ...(await save(ctx, input.save_as, source, sql, chart, `${input.measure} of ${input.event} by ${input.interval}`)),
  };
};
