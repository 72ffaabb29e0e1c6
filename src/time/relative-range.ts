import { instantOf, wallTimeOf, type WallTime } from './time-zone.js';

// The time-range phrases a time filter accepts (query_semantic_model's `during`), resolved in the
// environment's time zone to a half-open [from, to) of instants. Calendar units follow local dates, so a day
// across a DST change is 23 or 25 hours long; weeks start on Monday (ISO 8601).

export const RANGE_FORMS =
  'today, yesterday, this|last week|month|quarter|year, last N days|weeks|months, ' +
  '-Nd|-Nw|-Nm|-Nh (rolling to now; m = months), or a date YYYY-MM-DD';

/** A phrase outside the grammar; the message lists the accepted forms. */
export class UnknownRange extends Error {
  override name = 'UnknownRange';
  constructor(phrase: string) {
    super(`"${phrase}" is not a time range; use ${RANGE_FORMS}`);
  }
}

export interface InstantRange {
  /** Inclusive, ms since the epoch. */
  from: number;
  /** Exclusive. */
  to: number;
}

type Unit = 'day' | 'week' | 'month' | 'quarter' | 'year';
interface LocalDate {
  year: number;
  month: number;
  day: number;
}

/** Date.UTC's normalization on a calendar date (day 0 is the previous month's last day). */
function normalized(year: number, month: number, day: number): LocalDate {
  const d = new Date(Date.UTC(year, month - 1, day));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

function startOf(unit: Unit, date: LocalDate): LocalDate {
  switch (unit) {
    case 'day':
      return date;
    case 'week': {
      const weekday = (new Date(Date.UTC(date.year, date.month - 1, date.day)).getUTCDay() + 6) % 7; // Monday 0
      return normalized(date.year, date.month, date.day - weekday);
    }
    case 'month':
      return { year: date.year, month: date.month, day: 1 };
    case 'quarter':
      return { year: date.year, month: Math.floor((date.month - 1) / 3) * 3 + 1, day: 1 };
    case 'year':
      return { year: date.year, month: 1, day: 1 };
  }
}

/** `start` (the start of a unit) moved by n units. */
function shift(unit: Unit, start: LocalDate, n: number): LocalDate {
  const { year, month, day } = start;
  switch (unit) {
    case 'day':
      return normalized(year, month, day + n);
    case 'week':
      return normalized(year, month, day + 7 * n);
    case 'month':
      return normalized(year, month + n, day);
    case 'quarter':
      return normalized(year, month + 3 * n, day);
    case 'year':
      return normalized(year + n, month, day);
  }
}

const UNITS: Record<string, Unit> = { day: 'day', week: 'week', month: 'month', quarter: 'quarter', year: 'year' };
const MAX_COUNT = 10_000;

/** The wall time n months earlier, the day clamped to that month's length (Mar 31 − 1 month = Feb 28/29). */
function monthsBefore(wall: WallTime, n: number): WallTime {
  const first = normalized(wall.year, wall.month - n, 1);
  const length = normalized(first.year, first.month + 1, 0).day;
  return { ...wall, year: first.year, month: first.month, day: Math.min(wall.day, length) };
}

/** Resolves a phrase (case and spacing aside) at instant `now` in `zone`; throws UnknownRange. */
export function resolveRange(phrase: string, zone: string, now: number): InstantRange {
  const text = phrase.trim().toLowerCase().replace(/\s+/g, ' ');
  const wall = wallTimeOf(zone, now);
  const today: LocalDate = { year: wall.year, month: wall.month, day: wall.day };
  const at = (date: LocalDate) => instantOf(zone, { ...date, hour: 0, minute: 0, second: 0 });
  const span = (from: LocalDate, to: LocalDate): InstantRange => ({ from: at(from), to: at(to) });
  const count = (digits: string) => {
    const n = Number(digits);
    if (n < 1 || n > MAX_COUNT) throw new UnknownRange(phrase);
    return n;
  };

  if (text === 'today') return span(today, shift('day', today, 1));
  if (text === 'yesterday') return span(shift('day', today, -1), today);

  let match = /^(this|last) (week|month|quarter|year)$/.exec(text);
  if (match) {
    const unit = UNITS[match[2]!]!;
    const current = startOf(unit, today);
    return match[1] === 'this' ? span(current, shift(unit, current, 1)) : span(shift(unit, current, -1), current);
  }

  // N whole units ending with the current one: `last 7 days` is the 6 days before today and today.
  match = /^last (\d{1,5}) (day|week|month)s?$/.exec(text);
  if (match) {
    const unit = UNITS[match[2]!]!;
    const current = startOf(unit, today);
    return span(shift(unit, current, 1 - count(match[1]!)), shift(unit, current, 1));
  }

  match = /^-(\d{1,5})([dwmh])$/.exec(text);
  if (match) {
    const n = count(match[1]!);
    const kind = match[2]!;
    if (kind === 'h') return { from: now - n * 3_600_000, to: now };
    const ago =
      kind === 'm' ? monthsBefore(wall, n) : { ...wall, ...normalized(wall.year, wall.month, wall.day - (kind === 'w' ? 7 * n : n)) };
    // The same wall-clock time n days earlier (not n × 24 h), at its millisecond.
    return { from: instantOf(zone, ago) + (now % 1000), to: now };
  }

  match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (match) {
    const date = { year: Number(match[1]), month: Number(match[2]), day: Number(match[3]) };
    const real = normalized(date.year, date.month, date.day);
    if (real.year !== date.year || real.month !== date.month || real.day !== date.day || date.year < 1) {
      throw new UnknownRange(phrase);
    }
    return span(date, shift('day', date, 1));
  }
  throw new UnknownRange(phrase);
}
