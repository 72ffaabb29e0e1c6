import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { SAMPLE_SCHEMA } from './provision.js';

// The `sample` connection (docs/sql-sandbox.md, "Connections"): product analytics of a fictional SaaS over the 90 days before
// the day it was generated. Made inside PostgreSQL with generate_series and hash-based pseudo-randomness
// (hashint8extended with fixed salts), so it is the same data on every install (shifted to its own dates)
// and takes seconds rather than a million round trips. Shapes worth finding:
//  - daily seasonality (afternoon UTC peak, quieter weekends) and growth (more users every week);
//  - a funnel: signup → onboarding_completed → checkout_started → purchase;
//  - a launch-week spike of 1,000 signups on day 40 (signup property utm_source = launch_week);
//  - a checkout outage on days 62-64: checkout errors, almost no purchases;
//  - a scraping bot (user 4242) firing 25,000 page_views and searches on day 75.

/** Bump when the generator changes: a database with an older version is regenerated. */
export const SAMPLE_VERSION = 1;
const DAYS = 90;
const USERS = 20_000;
const SESSION_CANDIDATES = 200_000;
const LOCK_KEY = 0x6c616b65; // 'lake'

export interface SampleProgress {
  step: string;
  ms: number;
  rows?: number;
}

export interface SampleInfo {
  generated: boolean;
  version: number;
  anchor: string;
  durationMs: number;
  rowCounts: Record<string, number>;
}

/** `rnd(i, salt)`: a deterministic uniform number in [0, 1). Inlined by the planner (an SQL function). */
const RANDOM_FUNCTION = `CREATE FUNCTION pg_temp.rnd(i bigint, salt bigint) RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT (hashint8extended(i, salt) & 2147483647)::float8 / 2147483648.0 $$`;

/** A bell-shaped hour of the day around 15:00 UTC, as an interval. */
const hourOfDay = (i: string, salt: number) =>
  `make_interval(secs => 3600 * (39 + 7 * (pg_temp.rnd(${i}, ${salt}) + pg_temp.rnd(${i}, ${salt + 1}) + pg_temp.rnd(${i}, ${salt + 2}) - 1.5) - 24 * floor((39 + 7 * (pg_temp.rnd(${i}, ${salt}) + pg_temp.rnd(${i}, ${salt + 1}) + pg_temp.rnd(${i}, ${salt + 2}) - 1.5)) / 24)))`;

/** jsonb values picked by index: building jsonb per row costs seconds per million rows, picking one is free. */
const jsonbArray = (values: unknown[]) => `(ARRAY[${values.map((v) => `'${JSON.stringify(v)}'::jsonb`).join(',')}])`;
const PATHS = ['/', '/dashboard', '/reports', '/settings', '/pricing', '/docs', '/integrations', '/billing'];
const PAGE_VIEW = jsonbArray(PATHS.map((path) => ({ path })));
const FEATURE = jsonbArray(['chart', 'filter', 'export_csv', 'share', 'alert', 'sql_editor'].map((feature) => ({ feature })));
const SEARCH = jsonbArray(Array.from({ length: 50 }, (_, results) => ({ results })));
const ERROR = jsonbArray(['timeout', 'not_found', 'validation', 'checkout_503'].map((code) => ({ code })));
const DEVICE = jsonbArray(['desktop', 'mobile', 'tablet'].map((device) => ({ device })));

const STEPS: { step: string; table?: string; sql: string }[] = [
  {
    step: 'schema',
    sql: `DROP SCHEMA IF EXISTS ${SAMPLE_SCHEMA} CASCADE;
      CREATE SCHEMA ${SAMPLE_SCHEMA};
      CREATE TABLE ${SAMPLE_SCHEMA}.users (user_id bigint PRIMARY KEY, signed_up_at timestamptz NOT NULL, plan text NOT NULL, country text NOT NULL);
      CREATE TABLE ${SAMPLE_SCHEMA}.sessions (session_id bigint PRIMARY KEY, user_id bigint NOT NULL, started_at timestamptz NOT NULL, ended_at timestamptz NOT NULL, device text NOT NULL);
      CREATE TABLE ${SAMPLE_SCHEMA}.events (event_id bigint NOT NULL, event text NOT NULL, user_id bigint NOT NULL, session_id bigint, occurred_at timestamptz NOT NULL, properties jsonb NOT NULL DEFAULT '{}');
      CREATE TABLE ${SAMPLE_SCHEMA}.pageviews (pageview_id bigint NOT NULL, session_id bigint NOT NULL, user_id bigint NOT NULL, path text NOT NULL, viewed_at timestamptz NOT NULL);
      COMMENT ON SCHEMA ${SAMPLE_SCHEMA} IS 'Generated product analytics of a fictional SaaS (90 days)';`,
  },
  {
    // Signups grow over time (day = 90·sqrt(r)); users 19,001-20,000 are the launch-week cohort of day 40.
    // Whether a user will buy is drawn here so that plan and funnel agree.
    step: 'users',
    table: 'users',
    sql: `CREATE TEMP TABLE u ON COMMIT DROP AS
      SELECT i AS user_id,
             CASE WHEN i > ${USERS - 1000} THEN 40 ELSE floor(${DAYS - 1} * sqrt(pg_temp.rnd(i, 1)))::int END AS day,
             pg_temp.rnd(i, 2) AS buy,
             (ARRAY['US','US','US','US','US','US','GB','GB','DE','DE','FR','IN','IN','BR','CA','JP','AU','NL','ES','MX'])[1 + floor(pg_temp.rnd(i, 3) * 20)::int] AS country
      FROM generate_series(1, ${USERS}) AS i;
      INSERT INTO ${SAMPLE_SCHEMA}.users
      SELECT user_id,
             :start + make_interval(days => day) + ${hourOfDay('user_id', 10)},
             CASE WHEN buy < 0.11 AND NOT (day BETWEEN 60 AND 64) THEN (CASE WHEN pg_temp.rnd(user_id, 4) < 0.85 THEN 'pro' ELSE 'enterprise' END) ELSE 'free' END,
             country
      FROM u;`,
  },
  {
    // Sessions: a user (after signup), a day, an afternoon-peaked start; weekends keep 55% of theirs.
    step: 'sessions',
    table: 'sessions',
    sql: `INSERT INTO ${SAMPLE_SCHEMA}.sessions
      SELECT s.i, s.user_id, s.started_at,
             s.started_at + make_interval(secs => 60 + floor(-ln(1 - pg_temp.rnd(s.i, 23)) * 480)),
             CASE WHEN pg_temp.rnd(s.i, 24) < 0.55 THEN 'desktop' WHEN pg_temp.rnd(s.i, 24) < 0.9 THEN 'mobile' ELSE 'tablet' END
      FROM (
        SELECT c.i, c.user_id, d.day,
               greatest(u.signed_up_at, :start + make_interval(days => d.day) + ${hourOfDay('c.i', 20)}) AS started_at
        FROM (SELECT i, 1 + floor(pg_temp.rnd(i, 21) * ${USERS})::bigint AS user_id FROM generate_series(1, ${SESSION_CANDIDATES}) AS i) c
        JOIN ${SAMPLE_SCHEMA}.users u USING (user_id)
        JOIN u AS uu USING (user_id)
        CROSS JOIN LATERAL (SELECT uu.day + floor(pg_temp.rnd(c.i, 22) * (${DAYS} - uu.day))::int AS day) d
      ) s
      WHERE extract(isodow FROM :startdate + s.day) < 6 OR pg_temp.rnd(s.i, 25) < 0.55;`,
  },
  {
    // Activity: session_start, then 2-10 events spread over the session. Errors jump on days 62-64.
    step: 'events',
    table: 'events',
    sql: `INSERT INTO ${SAMPLE_SCHEMA}.events (event_id, event, user_id, session_id, occurred_at, properties)
      SELECT s.session_id * 100 + k, e.event, s.user_id, s.session_id,
             s.started_at + (s.ended_at - s.started_at) * (k::float8 / (n + 1)),
             CASE e.event
               WHEN 'page_view' THEN ${PAGE_VIEW}[1 + floor(pg_temp.rnd(s.session_id * 100 + k, 33) * ${PATHS.length})::int]
               WHEN 'feature_used' THEN ${FEATURE}[1 + floor(pg_temp.rnd(s.session_id * 100 + k, 34) * 6)::int]
               WHEN 'search' THEN ${SEARCH}[1 + floor(pg_temp.rnd(s.session_id * 100 + k, 35) * 50)::int]
               WHEN 'error' THEN ${ERROR}[CASE WHEN s.outage THEN 4 ELSE 1 + floor(pg_temp.rnd(s.session_id * 100 + k, 36) * 3)::int END]
               WHEN 'session_start' THEN ${DEVICE}[CASE s.device WHEN 'desktop' THEN 1 WHEN 'mobile' THEN 2 ELSE 3 END]
               ELSE '{}'::jsonb END
      FROM (
        SELECT ss.*, 2 + floor(pg_temp.rnd(ss.session_id, 30) * 7)::int AS n,
               ss.started_at >= :start + interval '62 days' AND ss.started_at < :start + interval '65 days' AS outage
        FROM ${SAMPLE_SCHEMA}.sessions ss
      ) s
      CROSS JOIN LATERAL generate_series(0, s.n) AS k
      CROSS JOIN LATERAL (SELECT CASE
          WHEN k = 0 THEN 'session_start'
          WHEN pg_temp.rnd(s.session_id * 100 + k, 31) < CASE WHEN s.outage THEN 0.15 ELSE 0.02 END THEN 'error'
          ELSE (ARRAY['page_view','page_view','page_view','page_view','page_view','page_view','page_view','page_view','page_view','page_view','page_view',
                      'feature_used','feature_used','feature_used','feature_used','search','search','search','export','invite_sent'])[1 + floor(pg_temp.rnd(s.session_id * 100 + k, 32) * 20)::int]
        END AS event) e;`,
  },
  {
    // The funnel, one row per user and step reached: every user signs up, 62% finish onboarding, 18% start
    // a checkout, 11% buy (none whose checkout fell in the outage of days 62-64).
    step: 'funnel',
    sql: `INSERT INTO ${SAMPLE_SCHEMA}.events (event_id, event, user_id, session_id, occurred_at, properties)
      SELECT 1000000000000 + us.user_id * 10 + f.step, f.event, us.user_id, NULL,
             us.signed_up_at + f.after,
             CASE WHEN f.step = 1 THEN jsonb_build_object('utm_source', CASE WHEN us.user_id > ${USERS - 1000} THEN 'launch_week' WHEN pg_temp.rnd(us.user_id, 40) < 0.5 THEN 'organic' WHEN pg_temp.rnd(us.user_id, 40) < 0.8 THEN 'google' ELSE 'referral' END, 'country', us.country)
                  WHEN f.step = 4 THEN jsonb_build_object('plan', us.plan, 'amount', CASE us.plan WHEN 'pro' THEN 49 ELSE 499 END)
                  ELSE '{}'::jsonb END
      FROM ${SAMPLE_SCHEMA}.users us JOIN u USING (user_id)
      CROSS JOIN LATERAL (VALUES
          (1, 'signup', interval '0'),
          (2, 'onboarding_completed', make_interval(mins => 5 + floor(pg_temp.rnd(us.user_id, 41) * 120)::int)),
          (3, 'checkout_started', make_interval(hours => 2 + floor(pg_temp.rnd(us.user_id, 42) * 48)::int)),
          (4, 'purchase', make_interval(hours => 2 + floor(pg_temp.rnd(us.user_id, 42) * 48)::int, mins => 3 + floor(pg_temp.rnd(us.user_id, 43) * 20)::int))
        ) AS f(step, event, after)
      WHERE f.step = 1
         OR (f.step = 2 AND (u.buy < 0.18 OR pg_temp.rnd(us.user_id, 44) < 0.54))
         OR (f.step = 3 AND u.buy < 0.18)
         OR (f.step = 4 AND us.plan <> 'free');`,
  },
  {
    step: 'bot',
    sql: `INSERT INTO ${SAMPLE_SCHEMA}.events (event_id, event, user_id, session_id, occurred_at, properties)
      SELECT 2000000000000 + i, CASE WHEN i % 5 = 0 THEN 'search' ELSE 'page_view' END, 4242, NULL,
             :start + interval '75 days' + make_interval(secs => i * 3.4),
             CASE WHEN i % 5 = 0 THEN jsonb_build_object('results', 0) ELSE jsonb_build_object('path', '/docs/page-' || i) END
      FROM generate_series(1, 25000) AS i;`,
  },
  {
    step: 'pageviews',
    table: 'pageviews',
    sql: `INSERT INTO ${SAMPLE_SCHEMA}.pageviews
      SELECT event_id, session_id, user_id, properties->>'path', occurred_at
      FROM ${SAMPLE_SCHEMA}.events WHERE event = 'page_view' AND session_id IS NOT NULL;`,
  },
  {
    step: 'indexes',
    // One index for time ranges, the common filter; ids are unique by construction (no key to build).
    sql: `CREATE INDEX events_occurred_at_idx ON ${SAMPLE_SCHEMA}.events (occurred_at);
      COMMENT ON TABLE ${SAMPLE_SCHEMA}.events IS 'Product events: session_start, page_view, feature_used, search, export, invite_sent, error, and the funnel signup → onboarding_completed → checkout_started → purchase';
      COMMENT ON TABLE ${SAMPLE_SCHEMA}.users IS 'One row per user; plan is free, pro or enterprise';
      COMMENT ON TABLE ${SAMPLE_SCHEMA}.sessions IS 'Visits; device is desktop, mobile or tablet';
      COMMENT ON TABLE ${SAMPLE_SCHEMA}.pageviews IS 'The page_view events of sessions, with their path';`,
  },
  {
    step: 'analyze',
    sql: `ANALYZE ${SAMPLE_SCHEMA}.users, ${SAMPLE_SCHEMA}.sessions, ${SAMPLE_SCHEMA}.events, ${SAMPLE_SCHEMA}.pageviews;`,
  },
];

/**
 * Generates the sample data unless this database already has the current version; safe when several
 * processes start together (an advisory lock; the loser finds the data made). All in one transaction:
 * an interrupted generation leaves nothing behind and is redone at the next start.
 */
export async function ensureSampleData(
  db: Kysely<Database>,
  onProgress: (progress: SampleProgress) => void = () => undefined,
): Promise<SampleInfo> {
  const existing = await currentSample(db);
  if (existing) return existing;
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${LOCK_KEY})`.execute(trx);
    const made = await currentSample(trx);
    if (made) return made;
    const started = performance.now();
    const anchorRow = await sql<{ anchor: string }>`SELECT to_char((now() AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS anchor`.execute(trx);
    const anchor = anchorRow.rows[0]?.anchor ?? '';
    const start = `(TIMESTAMPTZ '${anchor} 00:00:00+00' - interval '${DAYS} days')`;
    const startDate = `(DATE '${anchor}' - ${DAYS})`;
    await sql.raw(RANDOM_FUNCTION).execute(trx);
    const rowCounts: Record<string, number> = {};
    for (const { step, table, sql: text } of STEPS) {
      const t = performance.now();
      await sql.raw(text.replaceAll(':startdate', startDate).replaceAll(':start', start)).execute(trx);
      let rows: number | undefined;
      if (table) {
        const counted = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(`${SAMPLE_SCHEMA}.${table}`)}`.execute(trx);
        rows = counted.rows[0]?.n ?? 0;
      }
      if (step === 'pageviews') {
        const counted = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(`${SAMPLE_SCHEMA}.events`)}`.execute(trx);
        rowCounts.events = counted.rows[0]?.n ?? 0;
      }
      if (table && rows !== undefined) rowCounts[table] = rows;
      onProgress({ step, ms: Math.round(performance.now() - t), ...(rows === undefined ? {} : { rows }) });
    }
    await sql`DROP FUNCTION pg_temp.rnd(bigint, bigint)`.execute(trx);
    const durationMs = Math.round(performance.now() - started);
    await trx.deleteFrom('lakehouse_sample').execute();
    await trx
      .insertInto('lakehouse_sample')
      .values({ version: SAMPLE_VERSION, anchor, row_counts: rowCounts, duration_ms: durationMs })
      .execute();
    return { generated: true, version: SAMPLE_VERSION, anchor, durationMs, rowCounts };
  });
}

async function currentSample(db: Kysely<Database>): Promise<SampleInfo | undefined> {
  const row = await db
    .selectFrom('lakehouse_sample')
    .select(['version', sql<string>`to_char(anchor, 'YYYY-MM-DD')`.as('anchor'), 'row_counts', 'duration_ms'])
    .where('version', '=', SAMPLE_VERSION)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    generated: false,
    version: row.version,
    anchor: row.anchor,
    durationMs: row.duration_ms,
    rowCounts: row.row_counts,
  };
}
