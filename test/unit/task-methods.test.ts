import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { holtWinters } from '../../src/tasks/holt-winters.js';
import { nextSlot } from '../../src/tasks/schedule.js';
import { seasonalAnomalies } from '../../src/tasks/seasonal-anomaly.js';

// The pure methods of the scheduled tasks (docs/tasks.md): Holt-Winters, the seasonal baseline, cron slots.

/** A weekly pattern on a rising line, with a little deterministic noise. */
const weekly = (n: number, noise = 0) =>
  Array.from({ length: n }, (_, t) => 100 + 2 * t + [0, 10, 20, 30, 20, 10, -40][t % 7]! + noise * Math.sin(t * 12.9898));

describe('holtWinters', () => {
  it('continues an exact trend and season, with a narrow interval', () => {
    const y = weekly(56);
    const { forecast, sigma } = holtWinters(y, 7, 7);
    assert.equal(forecast.length, 7);
    forecast.forEach((p, i) => {
      const truth = weekly(56 + i + 1)[56 + i]!;
      assert.ok(Math.abs(p.value - truth) < 1, `step ${p.step}: ${p.value} vs ${truth}`);
      assert.ok(p.lower <= p.value && p.value <= p.upper);
    });
    // The first seasons' errors (the initial seasonal estimate carries some trend) keep sigma above 0.
    assert.ok(sigma < 3, `sigma ${sigma}`);
  });

  it('widens the interval with the horizon and with noise', () => {
    const noisy = holtWinters(weekly(70, 15), 7, 14);
    const width = (i: number) => noisy.forecast[i]!.upper - noisy.forecast[i]!.lower;
    assert.ok(width(13) > width(0), 'later steps are less certain');
    assert.ok(width(0) > holtWinters(weekly(70), 7, 14).forecast[0]!.upper - holtWinters(weekly(70), 7, 14).forecast[0]!.lower);
  });

  it('refuses a series shorter than two seasons and one period', () => {
    assert.throws(() => holtWinters(weekly(14), 7, 3), /at least 15 periods/);
  });
});

describe('seasonalAnomalies', () => {
  const points = (values: number[]) => values.map((value, i) => ({ period: String(i), value }));

  it('flags a spike and a drop against the same weekday, not the weekly pattern itself', () => {
    const values = weekly(63).map(Math.round);
    values[60] = values[60]! * 3;
    values[62] = 0;
    const { anomalies, checked } = seasonalAnomalies(points(values), { season: 7, sensitivity: 3, checkLast: 35 });
    assert.equal(checked, 35);
    assert.deepEqual(
      anomalies.map((a) => a.period),
      ['60', '62'],
    );
    assert.ok(anomalies[0]!.z > 3 && anomalies[1]!.z < -3);
  });

  it('judges only points with two earlier seasons, and a higher sensitivity flags less', () => {
    const values = weekly(21).map(Math.round);
    values[20] = values[20]! + 40;
    assert.equal(seasonalAnomalies(points(values), { season: 7, sensitivity: 3, checkLast: 100 }).checked, 7);
    assert.equal(seasonalAnomalies(points(values), { season: 7, sensitivity: 3, checkLast: 1 }).anomalies.length, 1);
    assert.equal(seasonalAnomalies(points(values), { season: 7, sensitivity: 10, checkLast: 1 }).anomalies.length, 0);
  });

  it('does not flag a flat history for a wobble of counts (the Poisson floor)', () => {
    const values = [...Array.from({ length: 28 }, () => 5), 8];
    assert.equal(seasonalAnomalies(points(values), { season: 7, sensitivity: 3, checkLast: 1 }).anomalies.length, 0);
  });
});

describe('nextSlot', () => {
  it('reads the cron in the time zone, across a daylight-saving change', () => {
    // Berlin: CET (+1) until 2026-03-29 02:00, CEST (+2) after.
    const before = nextSlot('0 9 * * *', 'Europe/Berlin', new Date('2026-03-28T12:00:00Z'));
    const after = nextSlot('0 9 * * *', 'Europe/Berlin', before);
    assert.equal(before.toISOString(), '2026-03-29T07:00:00.000Z');
    assert.equal(after.toISOString(), '2026-03-30T07:00:00.000Z');
    assert.equal(nextSlot('0 9 * * *', 'Europe/Berlin', new Date('2026-03-27T12:00:00Z')).toISOString(), '2026-03-28T08:00:00.000Z');
  });

  it('refuses schedules that are not 5-field cron, or never fire, saying what to give', () => {
    assert.throws(() => nextSlot('* * * * * *', 'UTC', new Date()), /has 6 fields; give 5/);
    assert.throws(() => nextSlot('every day', 'UTC', new Date()), /has 2 fields/);
    assert.throws(() => nextSlot('61 * * * *', 'UTC', new Date()), /not a valid cron expression/);
    assert.throws(() => nextSlot('0 0 31 2 *', 'UTC', new Date()), /never fires|not a valid/);
  });
});
