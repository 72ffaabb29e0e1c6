import {
  eventCondition,
  eventList,
  invalidQuery,
  propertyExpr,
  textLiteral,
  type EventSource,
  type PropertyFilter,
} from './event-source.js';
import { instantLiteral, type ResolvedRange } from './time-range.js';

// A funnel in one scan and one GROUP BY: the events of any step, per user the time of the first step-1 event
// in the range (the entry) and the times of each later step's events as lists; then, step by step, the
// earliest event of step k after the time of step k-1 and within the window of the entry (the earliest is
// the best choice for every step after it). No self-joins of the event table.

export interface FunnelStep {
  event: string;
  where?: PropertyFilter[];
}

export interface FunnelRequest {
  steps: FunnelStep[];
  window: string;
  breakdown?: string;
}

/** Values of a breakdown kept; the rest are summed as OTHER. */
export const FUNNEL_BREAKDOWN_LIMIT = 10;
export const OTHER = '(other)';
export const NONE = '(none)';

const UNITS = { m: ['MINUTE', 60_000], h: ['HOUR', 3_600_000], d: ['DAY', 86_400_000], w: ['DAY', 7 * 86_400_000] } as const;

/** `30m`, `24h`, `7d`, `2w` as a DuckDB interval and milliseconds. */
export function conversionWindow(text: string): { sql: string; ms: number } {
  const match = /^([1-9]\d{0,3})([mhdw])$/.exec(text);
  if (!match) throw invalidQuery(`The window "${text.slice(0, 40)}" is not one of 30m, 24h, 7d, 2w (a number and m, h, d or w).`);
  const n = Number(match[1]);
  const [unit, ms] = UNITS[match[2] as keyof typeof UNITS];
  const count = match[2] === 'w' ? 7 * n : n;
  return { sql: `INTERVAL ${count} ${unit}`, ms: n * ms };
}

/** The funnel's SQL: one row per (breakdown,) step, in step order. */
export function funnelSql(source: EventSource, request: FunnelRequest, range: ResolvedRange, columns?: readonly string[]): string {
  const { steps } = request;
  const window = conversionWindow(request.window);
  const n = steps.length;
  const to = instantLiteral(range.toMs);
  const flags = steps.map((step, i) => `${eventCondition(source, step, columns)} AS s${i + 1}`);
  const breakdown = request.breakdown === undefined ? undefined : propertyExpr(source, request.breakdown, columns);
  const e = [
    `SELECT ${source.user} AS u, CAST(${source.time} AS TIMESTAMPTZ) AS t, ${flags.join(', ')}`,
    ...(breakdown ? [`, ${breakdown} AS b`] : []),
    `FROM ${source.table}`,
    `WHERE ${eventList(
      source,
      steps.map((s) => s.event),
    )} AND ${source.user} IS NOT NULL AND ${source.time} >= ${instantLiteral(range.fromMs)} AND ${source.time} < ${instantLiteral(range.toMs + window.ms)}`,
  ].join(' ');
  const lists = steps.slice(1).map((_s, i) => `list(t) FILTER (WHERE s${i + 2}) AS l${i + 2}`);
  const perUser = [
    `SELECT u, min(t) FILTER (WHERE s1 AND t < ${to}) AS t1`,
    ...(breakdown ? [`, arg_min(b, t) FILTER (WHERE s1 AND t < ${to}) AS b`] : []),
    `, ${lists.join(', ')} FROM e GROUP BY u`,
  ].join(' ');
  // Step k: the earliest of its events after step k-1, within the window of the entry.
  let reached = `SELECT * FROM p WHERE t1 IS NOT NULL`;
  for (let k = 2; k <= n; k++) {
    reached = `SELECT *, list_min(list_filter(l${k}, x -> x > t${k - 1} AND x <= t1 + ${window.sql})) AS t${k} FROM (${reached})`;
  }
  const label = breakdown ? `coalesce(b, ${textLiteral(NONE, 'label')})` : undefined;
  const ctes = [`e AS (${e})`, `p AS (${perUser})`, `r AS (${reached})`];
  if (label) {
    ctes.push(`top AS (SELECT ${label} AS v FROM r GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT ${FUNNEL_BREAKDOWN_LIMIT})`);
  }
  const group = label ? `CASE WHEN ${label} IN (SELECT v FROM top) THEN ${label} ELSE ${textLiteral(OTHER, 'label')} END` : undefined;
  const counts = steps.map((_s, i) => `count(t${i + 1}) AS n${i + 1}`);
  const medians = steps.slice(1).map((_s, i) => `median(epoch(t${i + 2}) - epoch(t${i + 1})) AS m${i + 2}`);
  ctes.push(
    `g AS (SELECT ${group ? `${group} AS breakdown, ` : ''}${[...counts, ...medians].join(', ')} FROM r${group ? ' GROUP BY 1' : ''})`,
  );
  const b = group ? 'breakdown, ' : '';
  const unpivot = steps
    .map(
      (step, i) =>
        `SELECT ${b}${i + 1} AS step, ${textLiteral(step.event, 'The event name')} AS event, n${i + 1} AS users, ${i === 0 ? 'NULL::DOUBLE' : `m${i + 1}`} AS median FROM g`,
    )
    .join(' UNION ALL ');
  ctes.push(`s AS (${unpivot})`);
  const other = textLiteral(OTHER, 'label');
  return [
    `WITH ${ctes.join(',\n')}`,
    `SELECT ${b}step, event, step || '. ' || event AS step_label, users,`,
    `  round(users / nullif(lag(users) OVER w, 0), 4) AS conversion_from_previous,`,
    `  round(users / nullif(first_value(users) OVER w, 0), 4) AS conversion_from_first,`,
    `  round(median, 1) AS median_seconds_to_convert`,
    `FROM s WINDOW w AS (${group ? 'PARTITION BY breakdown ' : ''}ORDER BY step)`,
    `ORDER BY ${group ? `breakdown = ${other}, max(users) OVER (PARTITION BY breakdown) DESC, breakdown, ` : ''}step`,
  ].join('\n');
}
