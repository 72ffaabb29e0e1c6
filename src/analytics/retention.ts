import { eventCondition, eventList, type EventSource, type PropertyFilter } from './event-source.js';
import { instantLiteral, localTime, type ResolvedRange } from './time-range.js';

// Retention in one scan: the events of the cohort and return kinds; per user the first cohort event in the
// range (its period, in the environment's zone, is the user's cohort); per user and period the last return
// event; a join of the two small sets on the user. Period k of a cohort is the k-th calendar period after
// its own; a user is retained in it with a return event there (in period 0: at or after the cohort event).

export type Period = 'day' | 'week' | 'month';

export interface RetentionRequest {
  cohort: { event: string; where?: PropertyFilter[] };
  return: { event: string; where?: PropertyFilter[] };
  period: Period;
  periods: number;
}

const ADD: Record<Period, string> = { day: 'to_days', week: 'to_weeks', month: 'to_months' };

/** Whole periods from `a` to `b`, both period starts. */
const between = (period: Period, a: string, b: string) =>
  period === 'week' ? `date_diff('day', ${a}, ${b}) // 7` : `date_diff('${period}', ${a}, ${b})`;

/** The retention SQL: one row per cohort and period that has begun, in order. */
export function retentionSql(source: EventSource, request: RetentionRequest, range: ResolvedRange, columns?: readonly string[]): string {
  const { period, periods } = request;
  const zone = `'${range.time_zone.replace(/'/g, "''")}'`;
  // Returns may come up to `periods` periods after the range (whole months: 31 days each, a bound).
  const horizonMs = range.toMs + (periods + 1) * { day: 1, week: 7, month: 31 }[period] * 86_400_000;
  const local = (t: string) => `date_trunc('${period}', ${localTime(range.time_zone, t, range.fromMs, horizonMs)})`;
  const e = [
    `SELECT ${source.user} AS u, CAST(${source.time} AS TIMESTAMPTZ) AS t,`,
    `${eventCondition(source, request.cohort, columns)} AS c, ${eventCondition(source, request.return, columns)} AS r`,
    `FROM ${source.table}`,
    `WHERE ${eventList(source, [request.cohort.event, request.return.event])} AND ${source.user} IS NOT NULL`,
    `AND ${source.time} >= ${instantLiteral(range.fromMs)} AND ${source.time} < ${instantLiteral(horizonMs)}`,
  ].join(' ');
  return [
    `WITH e AS MATERIALIZED (${e}),`,
    `cohorts AS (SELECT u, min(t) AS ct, ${local('min(t)')} AS cohort FROM e WHERE c AND t < ${instantLiteral(range.toMs)} GROUP BY u),`,
    `returns AS (SELECT u, ${local('t')} AS rp, max(t) AS rt FROM e WHERE r GROUP BY ALL),`,
    `retained AS (SELECT cohort, ${between(period, 'cohort', 'rp')} AS period, count(*) AS users FROM cohorts JOIN returns USING (u)`,
    `  WHERE rp >= cohort AND rt >= ct AND ${between(period, 'cohort', 'rp')} <= ${periods} GROUP BY ALL),`,
    `sizes AS (SELECT cohort, count(*) AS size FROM cohorts GROUP BY cohort)`,
    `SELECT strftime(sizes.cohort, '%Y-%m-%d') AS cohort, size, p.period, coalesce(users, 0) AS users,`,
    `  round(coalesce(users, 0) / size, 4) AS retained_share`,
    `FROM sizes CROSS JOIN range(0, ${periods + 1}) AS p(period)`,
    `LEFT JOIN retained ON retained.cohort = sizes.cohort AND retained.period = p.period`,
    // Periods not yet begun are left out, not shown as 0 (a saved insight shows them once they begin).
    `WHERE sizes.cohort + ${ADD[period]}(p.period::INTEGER) <= timezone(${zone}, current_timestamp)`,
    `ORDER BY 1, 3`,
  ].join('\n');
}
