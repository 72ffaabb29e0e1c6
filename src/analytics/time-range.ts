import { resolveRange, UnknownRange, RANGE_FORMS } from '../time/relative-range.js';
import { formatInZone } from '../time/time-zone.js';
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
