import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';

// Fixed-window counters in PostgreSQL, so that a limit holds across every server process of a deployment.
// One statement per hit (an upsert that returns the new count). We do not use rate-limiter-flexible: its
// Postgres store wants its own pg client and creates its own table outside our migrations, for what is
// here one upsert and one select through the same Kysely pool.

export interface Window {
  /** Hits so far in the current window (after this one, for `hit`). */
  hits: number;
  /** Seconds until the window ends. */
  retryAfter: number;
}

function windowStart(seconds: number) {
  return sql<Date>`date_bin(make_interval(secs => ${seconds}), now(), timestamptz '2000-01-01')`;
}

function retryAfter(start: Date, seconds: number): number {
  return Math.max(1, Math.ceil((start.getTime() + seconds * 1000 - Date.now()) / 1000));
}

/** Counts one hit of `key` in the current window of `seconds`. */
export async function hit(db: Kysely<Database>, key: string, seconds: number): Promise<Window> {
  const row = await db
    .insertInto('rate_limit_counters')
    .values({ key, window_start: windowStart(seconds), hits: 1 })
    .onConflict((oc) => oc.columns(['key', 'window_start']).doUpdateSet({ hits: sql`rate_limit_counters.hits + 1` }))
    .returning(['hits', 'window_start'])
    .executeTakeFirstOrThrow();
  return windowOf(row, seconds);
}

/**
 * Counts one hit of `key` unless the current window already has `limit`: the window after the hit, or
 * undefined when it was full (nothing counted). Run inside a transaction, the row lock holds concurrent
 * callers in line until it ends, so the limit holds exactly and a rollback uncounts the hit.
 */
export async function hitBelow(
  db: Kysely<Database> | Transaction<Database>,
  key: string,
  seconds: number,
  limit: number,
): Promise<Window | undefined> {
  const row = await db
    .insertInto('rate_limit_counters')
    .values({ key, window_start: windowStart(seconds), hits: 1 })
    .onConflict((oc) =>
      oc
        .columns(['key', 'window_start'])
        .doUpdateSet({ hits: sql`rate_limit_counters.hits + 1` })
        .where('rate_limit_counters.hits', '<', limit),
    )
    .returning(['hits', 'window_start'])
    .executeTakeFirst();
  return row ? windowOf(row, seconds) : undefined;
}

/** A window as a counter row has it; also for a statement that reads the window itself (oauth_refresh_grant, migration 0005, bins time as `windowStart` does). */
export const windowOf = (row: { hits: number; window_start: Date }, seconds: number): Window => ({
  hits: row.hits,
  retryAfter: retryAfter(row.window_start, seconds),
});

/** The hits of `key` in the current window, without counting one. */
export async function peek(db: Kysely<Database>, key: string, seconds: number): Promise<Window> {
  const row = await db
    .selectFrom('rate_limit_counters')
    .select(['hits', 'window_start'])
    .where('key', '=', key)
    .where('window_start', '=', windowStart(seconds))
    .executeTakeFirst();
  return row ? windowOf(row, seconds) : { hits: 0, retryAfter: seconds };
}

/**
 * A limit that a request must find not yet reached before it may succeed (TOKEN_LIMIT): checked once per
 * request, either by its own query (`check`) or inside the request's own statement, which reads the same
 * window, does nothing when it is full, and hands what it read to `admit` (the refresh grant).
 */
export class WindowGate {
  /** Whether the window was read for this request (and found below the limit, or the request refused). */
  checked = false;

  constructor(
    private readonly db: Kysely<Database>,
    readonly key: string,
    readonly seconds: number,
    readonly limit: number,
    /** The error of a request that finds the window full. */
    private readonly refuse: (window: Window) => Error,
  ) {}

  /** Reads the window unless this request did already; throws `refuse` when it is full. */
  async check(): Promise<void> {
    if (this.checked) return;
    this.admit(await peek(this.db, this.key, this.seconds));
  }

  /** Records the window a statement read (it did nothing when full); throws `refuse` when it is full. */
  admit(window: Window): void {
    this.checked = true;
    if (window.hits >= this.limit) throw this.refuse(window);
  }
}

/** Deletes windows that ended long ago. */
export async function pruneCounters(db: Kysely<Database>, olderThanSeconds = 2 * 3600): Promise<void> {
  await db
    .deleteFrom('rate_limit_counters')
    .where('window_start', '<', sql<Date>`now() - make_interval(secs => ${olderThanSeconds})`)
    .execute();
}
