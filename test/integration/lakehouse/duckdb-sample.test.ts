import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { generateSampleParquet, type SampleParquetInfo } from '../../../src/lakehouse/duckdb/sample-parquet.js';

// The sample data made by DuckDB as Parquet (issue 15, item 5) at the size of today's PostgreSQL sample:
// the same tables, and every planted pattern findable by the SQL an analyst would write.

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'duck-sample-'));
const ANCHOR = '2026-03-01';
let info: SampleParquetInfo;
let db: DuckDBConnection;
const steps: string[] = [];

async function one(sql: string): Promise<number> {
  const result = await db.runAndReadAll(sql);
  return Number(result.getRows()[0]?.[0]);
}

before(async () => {
  info = await generateSampleParquet(dir, { anchor: ANCHOR, events: 1_130_000, onProgress: (step) => steps.push(step) });
  db = await (await DuckDBInstance.create(':memory:')).connect();
  await db.run("SET TimeZone = 'UTC'");
  for (const [table, file] of Object.entries(info.files)) await db.run(`CREATE VIEW ${table} AS SELECT * FROM read_parquet('${file}')`);
});
after(() => {
  db?.closeSync();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('the DuckDB sample (Parquet)', () => {
  it('writes the four tables, reporting progress and the row counts it wrote', async () => {
    assert.deepEqual(steps, ['users', 'sessions', 'events', 'pageviews']);
    assert.equal(info.rowCounts.users, 20_000);
    assert.ok(info.rowCounts.events > 1_000_000 && info.rowCounts.events < 1_300_000, String(info.rowCounts.events));
    assert.equal(await one('SELECT count(*) FROM events'), info.rowCounts.events);
    assert.equal(await one("SELECT count(*) FROM events WHERE event = 'page_view' AND session_id IS NOT NULL"), info.rowCounts.pageviews);
    assert.equal(await one('SELECT count(DISTINCT event_id) FROM events'), info.rowCounts.events);
  });

  it('covers the 90 days before its anchor, events in time order', async () => {
    assert.ok((await one(`SELECT min(occurred_at) >= TIMESTAMPTZ '2026-03-01 00:00:00+00' - INTERVAL 90 DAY FROM events`)) === 1);
    assert.ok((await one(`SELECT max(occurred_at) < TIMESTAMPTZ '2026-03-03 00:00:00+00' FROM events`)) === 1);
    assert.equal(await one('SELECT count(*) FROM users WHERE signed_up_at IS NULL OR plan IS NULL'), 0);
  });

  it('holds the funnel: every user signs up, about 62% onboard, 18% start a checkout, 11% buy', async () => {
    const share = async (event: string) =>
      (await one(`SELECT count(DISTINCT user_id) FROM events WHERE event = '${event}'`)) / info.rowCounts.users;
    const shares = await Promise.all(['signup', 'onboarding_completed', 'checkout_started', 'purchase'].map(share));
    const [signup = 0, onboarded = 0, checkout = 0, purchase = 0] = shares;
    assert.equal(signup, 1);
    assert.ok(Math.abs(onboarded - 0.62) < 0.03, shares.join());
    assert.ok(Math.abs(checkout - 0.18) < 0.02, shares.join());
    assert.ok(Math.abs(purchase - 0.105) < 0.02, shares.join());
  });

  it('holds the launch-week spike, the checkout outage and the bot', async () => {
    const launch = await one(
      `SELECT count(*) FROM events WHERE event = 'signup' AND (properties->>'utm_source') = 'launch_week'
         AND occurred_at::DATE = DATE '${ANCHOR}' - 90 + 40`,
    );
    assert.equal(launch, 1_000);
    const outagePurchases = await one(
      `SELECT count(*) FROM events WHERE event = 'purchase' AND occurred_at >= TIMESTAMPTZ '${ANCHOR} 00:00:00+00' - INTERVAL 28 DAY
         AND occurred_at < TIMESTAMPTZ '${ANCHOR} 00:00:00+00' - INTERVAL 25 DAY`,
    );
    assert.ok(outagePurchases < 20, String(outagePurchases));
    const outageErrors = await one(`SELECT count(*) FROM events WHERE event = 'error' AND (properties->>'code') = 'checkout_503'`);
    assert.ok(outageErrors > 500, String(outageErrors));
    assert.equal(
      await one(`SELECT count(*) FROM events WHERE user_id = 4242 AND session_id IS NULL AND event IN ('page_view', 'search')`),
      25_000,
    );
  });

  it('has quieter weekends and an afternoon peak', async () => {
    const weekday = await one('SELECT count(*) / 5 FROM sessions WHERE isodow(started_at) < 6');
    const weekend = await one('SELECT count(*) / 2 FROM sessions WHERE isodow(started_at) >= 6');
    assert.ok(weekend < weekday * 0.7, `${weekend} vs ${weekday}`);
    const peak = await one('SELECT hour(started_at) FROM sessions GROUP BY 1 ORDER BY count(*) DESC LIMIT 1');
    assert.ok(peak >= 12 && peak <= 18, String(peak));
  });
});
