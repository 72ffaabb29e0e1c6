import { resolveRange, UnknownRange, RANGE_FORMS } from '../time/relative-range.js';
import { formatInZone, offsetAt } from '../time/time-zone.js';
import { invalidQuery } from './event-source.js';

// The analytics tools' `range`: a phrase of issue 16's grammar (src/time/relative-range.ts) or two dates
// `FROM..TO` (both days included), resolved in the environment's zone at the call's start and echoed back as
// the absolute half-open [from, to) it ran with.

export const DEFAULT_RANGE = 'last 30 days';

export interface ResolvedRange {
  range: string;
  time_zone: string;
  /** ISO 8601 with the zone's offset; inclusive. */
  from: string;
  /** Exclusive. */
  to: string;
  fromMs: number;
  toMs: number;
}

export function resolveAnalyticsRange(phrase: string, zone: string, now: number): ResolvedRange {
  let from: number;
  let to: number;
  try {
    const between = /^\s*(\d{4}-\d{2}-\d{2})\s*\.\.\s*(\d{4}-\d{2}-\d{2})\s*$/.exec(phrase);
    if (between) {
      from = resolveRange(between[1]!, zone, now).from;
      to = resolveRange(between[2]!, zone, now).to;
      if (to <= from) throw invalidQuery(`The range "${phrase}" ends before it starts.`);
    } else {
      ({ from, to } = resolveRange(phrase, zone, now));
    }
  } catch (error) {
    if (error instanceof UnknownRange)
      throw invalidQuery(`"${phrase.slice(0, 80)}" is not a range; use ${RANGE_FORMS}, or FROM..TO dates.`);
    throw error;
  }
  return { range: phrase, time_zone: zone, from: formatInZone(zone, from), to: formatInZone(zone, to), fromMs: from, toMs: to };
}

/** An instant as a DuckDB TIMESTAMPTZ literal. */
export const instantLiteral = (ms: number) => `TIMESTAMPTZ '${new Date(ms).toISOString()}'`;

/** Ranges longer than this convert with DuckDB's timezone() (ICU, row by row) instead of offset arithmetic. */
const MAX_ARITHMETIC_MS = 2 * 366 * 86_400_000;
const DAY_MS = 86_400_000;

/** The zone's offsets over [from, to): each from its first instant (the first one from the start of time). */
export function offsetSpans(zone: string, from: number, to: number): { from: number; offset: number }[] {
  const spans = [{ from: -Infinity, offset: offsetAt(zone, from) }];
  let current = spans[0]!.offset;
  // Day by day (zones change their offset at most a few times a year), then to the second by bisection.
  for (let t = from; t < to; t += DAY_MS) {
    const next = Math.min(t + DAY_MS, to);
    const offset = offsetAt(zone, next);
    if (offset === current) continue;
    let lo = Math.floor(t / 1000) * 1000;
    let hi = Math.ceil(next / 1000) * 1000;
    while (hi - lo > 1000) {
      const mid = Math.floor((lo + hi) / 2000) * 1000;
      if (offsetAt(zone, mid) === current) lo = mid;
      else hi = mid;
    }
    spans.push({ from: hi, offset });
    current = offset;
  }
  return spans;
}

/**
 * `time` (a TIMESTAMPTZ expression) as the zone's local TIMESTAMP, for rows in [from, to). DuckDB's
 * timezone() converts through ICU row by row; over a bounded range the zone's offsets are known here, so the
 * SQL adds them to the epoch instead (a CASE at each DST change), which is the same and cheaper.
 */
export function localTime(zone: string, time: string, from: number, to: number): string {
  if (to - from > MAX_ARITHMETIC_MS) return `timezone('${zone.replace(/'/g, "''")}', ${time})`;
  const spans = offsetSpans(zone, from, to);
  const micros = (ms: number) => `${ms * 1000}`;
  if (spans.length === 1) {
    const offset = spans[0]!.offset;
    return offset === 0 ? `make_timestamp(epoch_us(${time}))` : `make_timestamp(epoch_us(${time}) + ${micros(offset)})`;
  }
  const cases = spans
    .slice(1)
    .map((span, i) => `WHEN ${time} < ${instantLiteral(span.from)} THEN ${micros(spans[i]!.offset)}`)
    .join(' ');
  return `make_timestamp(epoch_us(${time}) + CASE ${cases} ELSE ${micros(spans.at(-1)!.offset)} END)`;
}
