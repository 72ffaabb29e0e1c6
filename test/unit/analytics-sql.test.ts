import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventSource, filterCondition, parseWhere, propertyExpr } from '../../src/analytics/event-source.js';
import { conversionWindow, funnelSql } from '../../src/analytics/funnel.js';
import { localTime, offsetSpans, resolveAnalyticsRange } from '../../src/analytics/time-range.js';
import { builtInModels } from '../../src/lakehouse/semantic-models.js';
import { AppError } from '../../src/errors.js';

// The analytics tools' SQL pieces without an engine: filters, windows and ranges (the integration tests run
// the SQL and compare its answers with hand-written SQL).

const sample = eventSource(builtInModels().find((m) => m.name === 'product_events')!);
const refused = (f: () => unknown, message: RegExp) =>
  assert.throws(f, (e: unknown) => e instanceof AppError && e.code === 'invalid_query' && message.test(e.message));

describe('analytics: where maps and filters', () => {
  it('reads a value as equals, a list as any of, an object as operators, is_set false as missing', () => {
    assert.deepEqual(parseWhere({ plan: 'pro', country: ['DE', 'FR'], amount: { gte: 10, lt: 100 }, coupon: { is_set: false } }), [
      { property: 'plan', op: 'eq', value: 'pro' },
      { property: 'country', op: 'in', value: ['DE', 'FR'] },
      { property: 'amount', op: 'gte', value: 10 },
      { property: 'amount', op: 'lt', value: 100 },
      { property: 'coupon', op: 'is_not_set' },
    ]);
    refused(() => parseWhere({ plan: null }), /is_set": false/);
    refused(() => parseWhere({ plan: {} }), /names no operator/);
    refused(() => parseWhere({ plan: { like: 'p%' } }), /Unknown operator "like"/);
  });

  it('quotes values, compares numbers as numbers, keeps events without the property for neq', () => {
    assert.equal(
      filterCondition(sample, { property: 'path', op: 'eq', value: "x' OR '1'='1" }),
      `("properties" ->> 'path') = 'x'' OR ''1''=''1'`,
    );
    assert.equal(
      filterCondition(sample, { property: 'amount', op: 'gt', value: 10 }),
      `TRY_CAST(("properties" ->> 'amount') AS DOUBLE) > 10::DOUBLE`,
    );
    assert.equal(
      filterCondition(sample, { property: 'plan', op: 'neq', value: 'free' }),
      `(("properties" ->> 'plan') IS NULL OR ("properties" ->> 'plan') <> 'free')`,
    );
    refused(() => filterCondition(sample, { property: 'amount', op: 'gt', value: 'big' }), /compares numbers/);
    refused(() => filterCondition(sample, { property: 'a', op: 'in', value: [] }), /list of 1 to 100/);
    refused(() => filterCondition(sample, { property: 'a', op: 'eq', value: 'x'.repeat(1001) }), /longer than 1000/);
    refused(() => filterCondition(sample, { property: 'a', op: 'eq', value: Number.NaN }), /finite/);
    refused(() => propertyExpr(sample, 'a"; DROP'), /not a property name/);
    const { properties: _json, ...columnsOnly } = sample;
    refused(() => propertyExpr(columnsOnly, 'plan', ['who', 'at']), /No column "plan".*who, at/);
  });
});

describe('analytics: windows, ranges and the funnel SQL', () => {
  it('reads conversion windows and refuses other spellings', () => {
    assert.deepEqual(conversionWindow('30m'), { sql: 'INTERVAL 30 MINUTE', ms: 1_800_000 });
    assert.deepEqual(conversionWindow('2w'), { sql: 'INTERVAL 14 DAY', ms: 14 * 86_400_000 });
    refused(() => conversionWindow('7 days'), /not one of 30m/);
  });

  it('resolves FROM..TO dates (both days) and phrases in the zone, and refuses others', () => {
    const now = Date.parse('2026-03-10T12:00:00Z');
    const range = resolveAnalyticsRange('2026-03-01..2026-03-31', 'Europe/Berlin', now);
    assert.deepEqual([range.from, range.to], ['2026-03-01T00:00:00+01:00', '2026-04-01T00:00:00+02:00']);
    const week = resolveAnalyticsRange('this week', 'America/New_York', now);
    assert.deepEqual([week.from, week.to], ['2026-03-09T00:00:00-04:00', '2026-03-16T00:00:00-04:00']);
    refused(() => resolveAnalyticsRange('2026-03-31..2026-03-01', 'UTC', now), /ends before it starts/);
    refused(() => resolveAnalyticsRange('since forever', 'UTC', now), /not a range/);
  });

  it('finds the offsets of a zone over a range to the second, for local periods without ICU row by row', () => {
    const from = Date.parse('2026-10-01T00:00:00Z');
    const to = Date.parse('2026-12-01T00:00:00Z');
    assert.deepEqual(offsetSpans('America/New_York', from, to), [
      { from: -Infinity, offset: -4 * 3_600_000 },
      { from: Date.parse('2026-11-01T06:00:00Z'), offset: -5 * 3_600_000 },
    ]);
    assert.equal(localTime('UTC', 't', from, to), 'make_timestamp(epoch_us(t))');
    assert.equal(
      localTime('America/New_York', 't', from, to),
      "make_timestamp(epoch_us(t) + CASE WHEN t < TIMESTAMPTZ '2026-11-01T06:00:00.000Z' THEN -14400000000 ELSE -18000000000 END)",
    );
    assert.equal(localTime('Europe/Berlin', 't', from, from + 3 * 366 * 86_400_000), "timezone('Europe/Berlin', t)");
  });

  it('scans the events once: no join, one list per later step', () => {
    const range = resolveAnalyticsRange('2026-01-01..2026-01-31', 'UTC', Date.now());
    const sql = funnelSql(sample, { steps: [{ event: 'a' }, { event: 'b' }, { event: 'c' }], window: '1d' }, range);
    assert.doesNotMatch(sql, /JOIN/);
    assert.equal(sql.match(/"sample"\."main"\."events"/g)?.length, 1);
    assert.equal(sql.match(/list\(t\)/g)?.length, 2);
  });
});
