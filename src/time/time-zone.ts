// Wall-clock arithmetic in an IANA time zone with nothing but Intl: an instant's local date and time, and the
// instant of a local date and time (DST gaps and overlaps resolved as below). Environments keep their zone in
// `environments.time_zone`; relative time filters and get_session_context's `now` are computed in it.

export const DEFAULT_TIME_ZONE = 'UTC';

const HOW_TO_FIND =
  'use an IANA time zone name such as UTC, Europe/Berlin or America/New_York ' +
  "(the full list: `node -p \"Intl.supportedValuesOf('timeZone').join('\\n')\"`)";

/** A name that is no IANA time zone of this runtime; the message says how to find valid ones. */
export class InvalidTimeZone extends Error {
  override name = 'InvalidTimeZone';
}

/** The zone's canonical spelling (`europe/berlin` → `Europe/Berlin`), or an error saying how to find a valid one. */
export function checkTimeZone(name: string): string {
  if (name.length === 0 || name.length > 64 || !/^[A-Za-z0-9_+\-/]+$/.test(name)) {
    throw new InvalidTimeZone(`invalid time zone ${JSON.stringify(name)}: ${HOW_TO_FIND}`);
  }
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    throw new InvalidTimeZone(`unknown time zone "${name}": ${HOW_TO_FIND}`);
  }
}

/** A local calendar date and time (month 1-12). */
export interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formats = new Map<string, Intl.DateTimeFormat>();
function formatOf(zone: string): Intl.DateTimeFormat {
  let format = formats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(zone, format);
  }
  return format;
}

/** The local date and time of an instant (ms since the epoch) in `zone`. */
export function wallTimeOf(zone: string, instant: number): WallTime {
  const parts: Record<string, number> = {};
  for (const part of formatOf(zone).formatToParts(new Date(instant))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  return {
    year: parts.year!,
    month: parts.month!,
    day: parts.day!,
    hour: parts.hour!,
    minute: parts.minute!,
    second: parts.second!,
  };
}

const asUtc = (w: WallTime) => Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);

/** The zone's offset from UTC at an instant, in ms (+01:00 → 3,600,000). */
export function offsetAt(zone: string, instant: number): number {
  const whole = Math.floor(instant / 1000) * 1000;
  return asUtc(wallTimeOf(zone, whole)) - whole;
}

/**
 * The instant of a local date and time in `zone`. Normalizes like Date.UTC (day 32 is the next month's 1st).
 * A time that occurs twice (the hour repeated when clocks go back) is its first occurrence; a time that does
 * not occur (skipped when clocks go forward) is the instant the clocks jumped past it, shifted by as much,
 * so local midnight in a zone that skips it is the day's first instant.
 */
export function instantOf(zone: string, wall: WallTime): number {
  const local = asUtc(wall);
  // The offsets a day either side: a transition near `local` lies between them (zones change at most twice a year).
  const before = offsetAt(zone, local - 86_400_000);
  const after = offsetAt(zone, local + 86_400_000);
  const candidates = [local - before, local - after].filter((t) => t + offsetAt(zone, t) === local);
  if (candidates.length > 0) return Math.min(...candidates);
  return local - before; // in the gap
}

const pad = (n: number, width = 2) => String(Math.abs(n)).padStart(width, '0');

/** ISO 8601 with the zone's offset at that instant: `2024-03-31T00:00:00+01:00` (`Z` never; UTC is `+00:00`). */
export function formatInZone(zone: string, instant: number): string {
  const w = wallTimeOf(zone, instant);
  const offset = Math.round(offsetAt(zone, instant) / 60_000);
  const sign = offset < 0 ? '-' : '+';
  const ms = ((instant % 1000) + 1000) % 1000;
  return (
    `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}` +
    (ms ? `.${pad(ms, 3)}` : '') +
    `${sign}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`
  );
}
