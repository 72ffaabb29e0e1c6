import {
  eventCondition,
  invalidQuery,
  numericExpr,
  propertyExpr,
  textLiteral,
  type EventSource,
  type PropertyFilter,
} from './event-source.js';
import { NONE, OTHER } from './funnel.js';
import { instantLiteral, localTime, type ResolvedRange } from './time-range.js';

// A measure of one event over time, in the environment's zone, optionally by a property: the top `limit`
// values by number of events over the whole range, the rest as "(other)", a missing value as "(none)".

export type Measure = 'count' | 'users' | 'sum' | 'avg' | 'min' | 'max' | 'p50' | 'p90' | 'p99';
export type Interval = 'hour' | 'day' | 'week' | 'month';

export interface SegmentationRequest {
  event: string;
  where?: PropertyFilter[];
  measure: Measure;
  property?: string;
  interval: Interval;
  breakdown?: string;
  limit: number;
}

const AGGREGATES: Record<Exclude<Measure, 'count' | 'users'>, (x: string) => string> = {
  sum: (x) => `sum(${x})`,
  avg: (x) => `avg(${x})`,
  min: (x) => `min(${x})`,
  max: (x) => `max(${x})`,
  p50: (x) => `quantile_cont(${x}, 0.5)`,
  p90: (x) => `quantile_cont(${x}, 0.9)`,
  p99: (x) => `quantile_cont(${x}, 0.99)`,
};

/** The segmentation SQL: one row per (interval, breakdown value) with events, in time order. */
export function segmentationSql(
  source: EventSource,
  request: SegmentationRequest,
  range: ResolvedRange,
  columns?: readonly string[],
): string {
  const { measure } = request;
  let value: string;
  let x: string | undefined;
  if (measure === 'count') value = 'count(*)';
  else if (measure === 'users') value = 'count(DISTINCT u)';
  else {
    if (request.property === undefined) throw invalidQuery(`The measure "${measure}" needs \`property\`, a numeric property.`);
    x = numericExpr(propertyExpr(source, request.property, columns));
    value = AGGREGATES[measure]('x');
  }
  if ((measure === 'count' || measure === 'users') && request.property !== undefined) {
    throw invalidQuery(`The measure "${measure}" takes no property; sum, avg, min, max, p50, p90 and p99 do.`);
  }
  const breakdown = request.breakdown === undefined ? undefined : propertyExpr(source, request.breakdown, columns);
  const e = [
    `SELECT date_trunc('${request.interval}', ${localTime(range.time_zone, `CAST(${source.time} AS TIMESTAMPTZ)`, range.fromMs, range.toMs)}) AS bucket,`,
    `${source.user} AS u${x ? `, ${x} AS x` : ''}${breakdown ? `, coalesce(${breakdown}, ${textLiteral(NONE, 'label')}) AS b` : ''}`,
    `FROM ${source.table}`,
    `WHERE ${eventCondition(source, request, columns)}`,
    `AND ${source.time} >= ${instantLiteral(range.fromMs)} AND ${source.time} < ${instantLiteral(range.toMs)}`,
  ].join(' ');
  if (!breakdown) {
    return [`WITH e AS (${e})`, `SELECT bucket, ${value} AS value FROM e GROUP BY bucket ORDER BY bucket`].join('\n');
  }
  return [
    `WITH e AS MATERIALIZED (${e}),`,
    `top AS (SELECT b FROM e GROUP BY b ORDER BY count(*) DESC, b LIMIT ${request.limit})`,
    `SELECT * FROM (SELECT bucket, CASE WHEN b IN (SELECT b FROM top) THEN b ELSE ${textLiteral(OTHER, 'label')} END AS breakdown,`,
    `  ${value} AS value FROM e GROUP BY ALL)`,
    `ORDER BY bucket, breakdown = ${textLiteral(OTHER, 'label')}, breakdown`,
  ].join('\n');
}
