import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveRange, UnknownRange } from '../../src/time/relative-range.js';
import { checkTimeZone, formatInZone, instantOf, InvalidTimeZone } from '../../src/time/time-zone.js';

// Relative time ranges in an environment's zone, with the clock injected: every case states its "now".

const range = (phrase: string, zone: string, now: string) => {
  const r = resolveRange(phrase, zone, Date.parse(now));
  return [formatInZone(zone, r.from), formatInZone(zone, r.to)];
};
const hours = (phrase: string, zone: string, now: string) => {
  const r = resolveRange(phrase, zone, Date.parse(now));
  return (r.to - r.from) / 3_600_000;
};

describe('time zones', () => {
  it('accepts IANA names in their canonical spelling and refuses others saying how to list valid ones', () => {
    assert.equal(checkTimeZone('Europe/Berlin'), 'Europe/Berlin');
    assert.equal(checkTimeZone('america/new_york'), 'America/New_York');
    assert.equal(checkTimeZone('UTC'), 'UTC');
    for (const bad of ['Mars/Olympus', 'Europe/Berlin; DROP TABLE x', '', 'x'.repeat(100)]) {
      assert.throws(
        () => checkTimeZone(bad),
        (e: unknown) => e instanceof InvalidTimeZone && /time zone/.test(e.message) && /supportedValuesOf\('timeZone'\)/.test(e.message),
      );
    }
  });

  it('puts a local time skipped by DST at the jump, and a repeated one at its first occurrence', () => {
    // Santiago skips 00:00-01:00 on 2024-09-08: the day starts at 01:00 -03:00.
    const midnight = { year: 2024, month: 9, day: 8, hour: 0, minute: 0, second: 0 };
    assert.equal(formatInZone('America/Santiago', instantOf('America/Santiago', midnight)), '2024-09-08T01:00:00-03:00');
    // Berlin has 02:30 twice on 2024-10-27: first at +02:00.
    const twice = { year: 2024, month: 10, day: 27, hour: 2, minute: 30, second: 0 };
    assert.equal(new Date(instantOf('Europe/Berlin', twice)).toISOString(), '2024-10-27T00:30:00.000Z');
  });
});

describe('relative time ranges', () => {
  it('today and yesterday are local days: 23 hours when clocks go forward, 25 when they go back', () => {
    // Berlin, Sunday 2024-03-31 (02:00 → 03:00) at noon.
    assert.deepEqual(range('today', 'Europe/Berlin', '2024-03-31T10:00:00Z'), ['2024-03-31T00:00:00+01:00', '2024-04-01T00:00:00+02:00']);
    assert.equal(hours('today', 'Europe/Berlin', '2024-03-31T10:00:00Z'), 23);
    assert.deepEqual(range('yesterday', 'Europe/Berlin', '2024-03-31T10:00:00Z'), [
      '2024-03-30T00:00:00+01:00',
      '2024-03-31T00:00:00+01:00',
    ]);
    assert.equal(hours('today', 'Europe/Berlin', '2024-10-27T10:00:00Z'), 25);
    // New York: 2024-03-10 (forward) and 2024-11-03 (back).
    assert.deepEqual(range('today', 'America/New_York', '2024-03-10T15:00:00Z'), [
      '2024-03-10T00:00:00-05:00',
      '2024-03-11T00:00:00-04:00',
    ]);
    assert.equal(hours('today', 'America/New_York', '2024-03-10T15:00:00Z'), 23);
    assert.equal(hours('today', 'America/New_York', '2024-11-03T15:00:00Z'), 25);
    // 03:30 UTC on 2024-11-03 is still 2 November in New York.
    assert.deepEqual(range('today', 'America/New_York', '2024-11-03T03:30:00Z'), [
      '2024-11-02T00:00:00-04:00',
      '2024-11-03T00:00:00-04:00',
    ]);
  });

  it('weeks start on Monday; this and last week/month/quarter/year are whole calendar units', () => {
    const now = '2024-03-31T10:00:00Z'; // a Sunday in Berlin
    assert.deepEqual(range('this week', 'Europe/Berlin', now), ['2024-03-25T00:00:00+01:00', '2024-04-01T00:00:00+02:00']);
    assert.deepEqual(range('last week', 'Europe/Berlin', now), ['2024-03-18T00:00:00+01:00', '2024-03-25T00:00:00+01:00']);
    assert.deepEqual(range('this month', 'Europe/Berlin', now), ['2024-03-01T00:00:00+01:00', '2024-04-01T00:00:00+02:00']);
    assert.deepEqual(range('last month', 'America/New_York', '2024-11-03T15:00:00Z'), [
      '2024-10-01T00:00:00-04:00',
      '2024-11-01T00:00:00-04:00',
    ]);
    assert.deepEqual(range('this quarter', 'Europe/Berlin', now), ['2024-01-01T00:00:00+01:00', '2024-04-01T00:00:00+02:00']);
    assert.deepEqual(range('last quarter', 'Europe/Berlin', now), ['2023-10-01T00:00:00+02:00', '2024-01-01T00:00:00+01:00']);
    assert.deepEqual(range('last year', 'UTC', now), ['2023-01-01T00:00:00+00:00', '2024-01-01T00:00:00+00:00']);
    // Monday 00:30 local is already the new week, though it is still Sunday in UTC.
    assert.deepEqual(range('This  Week', 'Europe/Berlin', '2024-04-07T22:30:00Z'), [
      '2024-04-08T00:00:00+02:00',
      '2024-04-15T00:00:00+02:00',
    ]);
  });

  it('last N days/weeks/months end with the current one; -N is rolling to now by wall clock, hours exact', () => {
    const now = '2024-03-31T10:00:00Z';
    assert.deepEqual(range('last 7 days', 'Europe/Berlin', now), ['2024-03-25T00:00:00+01:00', '2024-04-01T00:00:00+02:00']);
    assert.deepEqual(range('last 1 day', 'Europe/Berlin', now), range('today', 'Europe/Berlin', now));
    assert.deepEqual(range('last 2 weeks', 'Europe/Berlin', now), ['2024-03-18T00:00:00+01:00', '2024-04-01T00:00:00+02:00']);
    assert.deepEqual(range('last 3 months', 'Europe/Berlin', now), ['2024-01-01T00:00:00+01:00', '2024-04-01T00:00:00+02:00']);
    // -1d: the same wall time yesterday, 23 hours before across the change.
    assert.deepEqual(range('-1d', 'Europe/Berlin', now), ['2024-03-30T12:00:00+01:00', '2024-03-31T12:00:00+02:00']);
    assert.equal(hours('-1d', 'Europe/Berlin', now), 23);
    assert.equal(hours('-1d', 'UTC', now), 24);
    assert.equal(hours('-1w', 'Europe/Berlin', now), 167);
    assert.equal(hours('-48h', 'Europe/Berlin', now), 48);
    assert.deepEqual(range('-1m', 'UTC', '2024-03-31T10:00:00Z'), ['2024-02-29T10:00:00+00:00', '2024-03-31T10:00:00+00:00']);
  });

  it('an ISO date is that local day', () => {
    assert.deepEqual(range('2024-03-10', 'America/New_York', '2026-01-01T00:00:00Z'), [
      '2024-03-10T00:00:00-05:00',
      '2024-03-11T00:00:00-04:00',
    ]);
    assert.deepEqual(range('2024-02-29', 'UTC', '2026-01-01T00:00:00Z'), ['2024-02-29T00:00:00+00:00', '2024-03-01T00:00:00+00:00']);
  });

  it('refuses anything else, listing the accepted forms', () => {
    for (const bad of ['last 0 days', 'next week', '2024-02-30', '7d', '-7x', 'last 99999 days', 'today; DROP', 'this fortnight', '']) {
      assert.throws(
        () => resolveRange(bad, 'UTC', Date.parse('2024-03-31T10:00:00Z')),
        (e: unknown) => e instanceof UnknownRange && e.message.includes('this|last week|month|quarter|year'),
        bad,
      );
    }
  });
});
