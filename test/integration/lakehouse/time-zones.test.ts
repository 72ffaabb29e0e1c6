import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setEnvironmentSettings } from '../../../src/db/directory.js';
import { call, callError, startLakehouseHarness, type LakehouseHarness } from './harness.js';

// Time in an environment's zone, through real MCP clients: get_session_context tells the time and the
// sample tables' ranges in it; query_semantic_model's `during` filters resolve in it and echo the absolute
// range they ran with, which as plain gte/lt filters gives the same rows.

let h: LakehouseHarness;
before(async () => {
  h = await startLakehouseHarness();
  // Before any call: get_session_context keeps an environment's zone for a few seconds.
  await setEnvironmentSettings(h.database.db, { organization: 'acme', environment: 'production' }, { timeZone: 'America/New_York' });
});
after(() => h?.close());

const NEW_YORK_OFFSET = /-0[45]:00$/;
const scalar = async (sql: string) => (await call(h.clients.a, 'query_lakehouse', { connection: 'sample', sql })).rows[0]?.[0] as string;

describe('get_session_context: time', () => {
  it('tells the current time in the environment time zone', async () => {
    const before_ = Date.now();
    const a = await call(h.clients.a, 'get_session_context', {});
    assert.equal(a.time_zone, 'America/New_York');
    assert.match(a.now, NEW_YORK_OFFSET);
    const now = Date.parse(a.now);
    assert.ok(now >= Math.floor(before_ / 1000) * 1000 && now <= Date.now(), `${a.now} is now`);
    const b = await call(h.clients.b, 'get_session_context', {});
    assert.equal(b.time_zone, 'UTC');
    assert.match(b.now, /\+00:00$/);
  });

  it("gives the sample tables' time ranges in that zone, with their column, and a model's time table", async () => {
    const { time_ranges } = await call(h.clients.a, 'get_session_context', {});
    const expected = [
      ['events', 'occurred_at'],
      ['sessions', 'started_at'],
      ['pageviews', 'viewed_at'],
      ['users', 'signed_up_at'], // the product_users model's time dimension
    ];
    assert.deepEqual(
      time_ranges.map((r) => [r.table, r.column]),
      expected,
    );
    for (const [table, column] of expected) {
      const range = time_ranges.find((r) => r.table === table)!;
      assert.equal(range.connection, 'sample');
      assert.match(range.min ?? '', NEW_YORK_OFFSET);
      assert.match(range.max ?? '', NEW_YORK_OFFSET);
      assert.equal(Date.parse(range.min!), Date.parse(await scalar(`SELECT min(${column}) FROM ${table}`)), `${table} min`);
      assert.equal(Date.parse(range.max!), Date.parse(await scalar(`SELECT max(${column}) FROM ${table}`)), `${table} max`);
    }
  });
});

describe('query_semantic_model: relative time filters', () => {
  const query = (client = h.clients.a, filters: unknown[]) =>
    call(client, 'query_semantic_model', {
      model: 'product_events',
      measures: ['events', 'users'],
      dimensions: ['event'],
      filters: filters as never,
      order: [{ field: 'event' }],
    });

  it('a local day resolves in the zone, is echoed, and gives the rows of its absolute range', async () => {
    const { time_ranges } = await call(h.clients.a, 'get_session_context', {});
    const day = time_ranges.find((r) => r.table === 'events')!.max!.slice(0, 10); // the last day, in New York
    const relative = await query(h.clients.a, [{ field: 'occurred_at', op: 'during', value: day }]);
    assert.equal(relative.time_zone, 'America/New_York');
    const [range] = relative.time_ranges ?? [];
    assert.equal(range?.field, 'occurred_at');
    assert.equal(range?.during, day);
    assert.match(range.from, new RegExp(`^${day}T00:00:00-0[45]:00$`));
    assert.ok(relative.rows.length > 0, 'the last day has events');
    const absolute = await query(h.clients.a, [
      { field: 'occurred_at', op: 'gte', value: range.from },
      { field: 'occurred_at', op: 'lt', value: range.to },
    ]);
    assert.deepEqual(relative.rows, absolute.rows);
    assert.equal(absolute.time_ranges, undefined, 'no during, no echo');
    // The same day in UTC is another range, with other numbers.
    const utc = await query(h.clients.b, [{ field: 'occurred_at', op: 'during', value: day }]);
    assert.equal(utc.time_ranges?.[0]?.from, `${day}T00:00:00+00:00`);
    assert.notDeepEqual(utc.rows, relative.rows);
  });

  it('relative phrases (last N days, -Nd, this year) give the rows of the absolute range echoed', async () => {
    for (const phrase of ['last 400 days', '-400d', 'this year', 'Today']) {
      const relative = await query(h.clients.a, [{ field: 'occurred_at', op: 'during', value: phrase }]);
      const [range] = relative.time_ranges ?? [];
      assert.match(range!.from, NEW_YORK_OFFSET, phrase);
      const absolute = await query(h.clients.a, [
        { field: 'occurred_at', op: 'gte', value: range!.from },
        { field: 'occurred_at', op: 'lt', value: range!.to },
      ]);
      assert.deepEqual(relative.rows, absolute.rows, phrase);
    }
  });

  it('refuses an unknown phrase (listing the accepted forms), a non-string and a non-time field', async () => {
    const unknown = await callError(h.clients.a, 'query_semantic_model', {
      model: 'product_events',
      measures: ['events'],
      filters: [{ field: 'occurred_at', op: 'during', value: 'next tuesday' }],
    });
    assert.equal(unknown.code, 'invalid_query');
    assert.match(unknown.message, /"next tuesday" is not a time range; use today, yesterday, this\|last week/);
    const number = await callError(h.clients.a, 'query_semantic_model', {
      model: 'product_events',
      measures: ['events'],
      filters: [{ field: 'occurred_at', op: 'during', value: 7 }],
    });
    assert.equal(number.code, 'invalid_query');
    const text = await callError(h.clients.a, 'query_semantic_model', {
      model: 'product_events',
      measures: ['events'],
      filters: [{ field: 'event', op: 'during', value: 'today' }],
    });
    assert.match(text.message, /"during" does not apply to "event" \(string\)/);
  });
});
