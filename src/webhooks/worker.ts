import crypto from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { IDEMPOTENCY_TTL_HOURS } from '../assets/idempotency.js';
import type { Logger } from '../logger.js';
import { safePost } from './safe-post.js';
import { openSecret } from './secrets.js';
import { retryDelayMs, type WebhookSettings } from './settings.js';
import { signedHeaders } from './signature.js';

// The outbox worker: every server process runs one; any number may share a database.
//
// A poll claims due rows in one short transaction (SELECT … FOR UPDATE SKIP LOCKED, then UPDATE): it counts
// the attempt, stamps its own `claim` and pushes next_attempt_at past the attempt's deadline (a lease), and
// commits before any HTTP request. Another worker skips the locked rows while the claim commits and finds
// them not due afterwards, so no two workers send the same attempt. The outcome is written only where the
// claim still matches. A worker that dies mid-attempt leaves the row pending; it is retried when the lease
// ends: delivery is at-least-once, and receivers deduplicate by webhook-id.

export interface WebhookWorkerOptions {
  db: Kysely<Database>;
  /** SECRET_KEY: opens the webhooks' sealed secrets. */
  secretKey: Buffer;
  allowPrivateNetwork: boolean;
  settings: WebhookSettings;
  log: Logger;
}

interface Claimed {
  id: string;
  environment_id: string;
  webhook_id: string;
  payload: string;
  attempts: number;
  url: string;
  sealed_secret: string;
}

const PRUNE_EVERY_MS = 60_000;

export class WebhookWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private lastPrune = 0;
  /** Attempts made by this worker (for tests and metrics). */
  readonly sent = { attempts: 0, delivered: 0, failed: 0 };

  constructor(private readonly options: WebhookWorkerOptions) {}

  start(): this {
    this.stopped = false;
    this.schedule(0);
    return this;
  }

  /** Finishes the attempts in flight, then stops polling. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** Polls now rather than at the next tick (e.g. right after a notification was stored). */
  nudge(): void {
    if (this.stopped || this.running) return;
    clearTimeout(this.timer);
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = undefined;
        this.schedule(this.options.settings.pollMs);
      });
    }, ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      // Keep going while full batches come back, so a backlog drains faster than one batch per poll.
      while (!this.stopped && (await this.runOnce()) === this.options.settings.batch);
      if (Date.now() - this.lastPrune > PRUNE_EVERY_MS) {
        this.lastPrune = Date.now();
        await this.prune();
      }
    } catch (error) {
      this.options.log.error({ err: error }, 'webhooks: poll failed');
    }
  }

  /** Claims a batch of due deliveries and attempts each once; answers how many were claimed. */
  async runOnce(): Promise<number> {
    const claimed = await this.claim();
    await Promise.all(claimed.map((row) => this.attempt(row.claim, row)));
    return claimed.length;
  }

  private async claim(): Promise<(Claimed & { claim: string })[]> {
    const { settings, db } = this.options;
    const claim = crypto.randomUUID();
    const leaseMs = settings.timeoutMs + 30_000;
    // Raw SQL: FOR UPDATE SKIP LOCKED in a data-modifying CTE, joined to the webhook, reads best as the SQL it is.
    const { rows } = await sql<Claimed>`
      WITH due AS (
        SELECT id FROM webhook_deliveries
         WHERE status = 'pending' AND next_attempt_at <= now()
         ORDER BY next_attempt_at
         LIMIT ${settings.batch}
         FOR UPDATE SKIP LOCKED
      ), claimed AS (
        UPDATE webhook_deliveries d
           SET claim = ${claim}::uuid, attempts = d.attempts + 1, updated_at = now(),
               next_attempt_at = now() + make_interval(secs => ${leaseMs / 1000})
          FROM due WHERE d.id = due.id
        RETURNING d.id, d.environment_id, d.webhook_id, d.payload, d.attempts
      )
      SELECT c.*, w.url, w.sealed_secret
        FROM claimed c JOIN webhooks w ON w.environment_id = c.environment_id AND w.id = c.webhook_id`.execute(db);
    return rows.map((row) => ({ ...row, claim }));
  }

  private async attempt(claim: string, row: Claimed): Promise<void> {
    const { settings, log } = this.options;
    this.sent.attempts += 1;
    let status: number | undefined;
    let error: string | undefined;
    try {
      const secret = openSecret(this.options.secretKey, row.webhook_id, row.sealed_secret);
      const answer = await safePost(row.url, row.payload, {
        allowPrivateNetwork: this.options.allowPrivateNetwork,
        headers: signedHeaders(secret, row.id, row.payload),
        timeoutMs: settings.timeoutMs,
        maxBytes: 4096,
      });
      status = answer.status;
      if (status < 200 || status >= 300) error = `HTTP ${status}${answer.body ? `: ${answer.body.slice(0, 200)}` : ''}`;
    } catch (caught) {
      error = (caught as Error).message || String(caught);
    }
    const base = this.options.db.updateTable('webhook_deliveries').where('id', '=', row.id).where('claim', '=', claim);
    if (error === undefined) {
      this.sent.delivered += 1;
      await base
        .set((eb) => ({ status: 'delivered', claim: null, last_status: status ?? null, last_error: null, updated_at: eb.fn('now') }))
        .execute();
      return;
    }
    this.sent.failed += 1;
    const dead = row.attempts >= settings.maxAttempts;
    const delay = retryDelayMs(settings, row.attempts);
    log.warn({ delivery: row.id, webhook: row.webhook_id, attempts: row.attempts, dead, error }, 'webhooks: delivery attempt failed');
    await base
      .set((eb) => ({
        status: dead ? 'dead' : 'pending',
        claim: null,
        last_status: status ?? null,
        last_error: error.slice(0, 500),
        updated_at: eb.fn('now'),
        next_attempt_at: sql<Date>`now() + make_interval(secs => ${delay / 1000})`,
      }))
      .execute();
  }

  /** Deletes delivered and dead rows past the retention period, and expired idempotency keys. */
  async prune(): Promise<{ deliveries: number; idempotencyKeys: number }> {
    const { db, settings } = this.options;
    const deliveries = await db
      .deleteFrom('webhook_deliveries')
      .where('status', '<>', 'pending')
      .where('updated_at', '<', sql<Date>`now() - make_interval(hours => ${settings.retentionHours})`)
      .executeTakeFirst();
    const keys = await db
      .deleteFrom('idempotency_keys')
      .where('created_at', '<', sql<Date>`now() - make_interval(hours => ${IDEMPOTENCY_TTL_HOURS})`)
      .executeTakeFirst();
    return { deliveries: Number(deliveries.numDeletedRows), idempotencyKeys: Number(keys.numDeletedRows) };
  }
}

/** Starts the outbox worker of a server process (src/server.ts). */
export function startWebhookWorker(options: WebhookWorkerOptions): WebhookWorker {
  return new WebhookWorker(options).start();
}
