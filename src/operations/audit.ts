import type { Kysely } from 'kysely';
import type { Database, JsonObject } from '../db/schema.js';
import type { Logger } from '../logger.js';
import type { ErrorCode } from '../errors.js';
import type { Principal } from '../oauth/principal.js';

/**
 * How a call ended, as the audit log records it: `ok`, `error:<code>` (an AppError's code, e.g.
 * `error:not_found`, `error:internal_error`, `error:cancelled`), `invalid_input` (the input failed its
 * schema; nothing ran) or `forbidden` (the token lacks the tool's scope; nothing ran).
 */
export type AuditOutcome = 'ok' | 'invalid_input' | 'forbidden' | `error:${ErrorCode}`;

export interface AuditEntry {
  /** `user:<uuid>` or `service:<uuid>` (Principal.subject). */
  actor: string;
  clientId: string | null;
  organizationId: string | null;
  environmentId: string | null;
  /** The tool name (MCP) or operationId (REST). */
  operation: string;
  outcome: AuditOutcome;
  durationMs: number;
  /** The SQL the call ran, for SQL tools. */
  sql?: string | null;
  detail?: JsonObject | null;
  /** When the call started; defaults to when it was recorded. */
  at?: Date;
}

/** The audit fields that come from the verified token. */
export function auditActor(principal: Principal): Pick<AuditEntry, 'actor' | 'clientId' | 'organizationId' | 'environmentId'> {
  return {
    actor: principal.subject,
    clientId: principal.clientId,
    organizationId: principal.organizationId,
    environmentId: principal.environmentId,
  };
}

export interface AuditLogOptions {
  /** Flush at least this often while rows wait (ms). */
  intervalMs?: number;
  /** Flush as soon as this many rows wait; also the most rows one INSERT writes. */
  batchSize?: number;
  /** Rows kept in memory at most while the database is failing; the oldest are dropped (and logged) beyond. */
  maxBuffered?: number;
}

interface Pending {
  row: AuditEntry & { at: Date };
  retried: boolean;
}

/**
 * The audit trail, written in batches off the request path (README.md, "Performance"): `record()` only pushes to an
 * in-memory buffer; a timer (every `intervalMs`) or a full batch (`batchSize` rows) triggers one multi-row
 * INSERT. A failed batch is logged and retried once with the next flush, then dropped (and logged, with its
 * size). `record()` never throws and never waits. `close()` flushes everything left: a clean shutdown loses
 * nothing; a crash loses at most the last `intervalMs` of rows.
 */
export class AuditLog {
  private buffer: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly intervalMs: number;
  private readonly batchSize: number;
  private readonly maxBuffered: number;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly log: Logger,
    options: AuditLogOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 500;
    this.batchSize = options.batchSize ?? 200;
    this.maxBuffered = options.maxBuffered ?? 50_000;
  }

  /** Queues one row. Cheap, synchronous, never throws. */
  record(entry: AuditEntry): void {
    try {
      if (this.closed) {
        this.log.error({ operation: entry.operation, actor: entry.actor }, 'audit row recorded after close; written on its own');
      }
      this.buffer.push({ row: { ...entry, at: entry.at ?? new Date() }, retried: false });
      if (this.buffer.length > this.maxBuffered) {
        const dropped = this.buffer.splice(0, this.buffer.length - this.maxBuffered);
        this.log.error({ dropped: dropped.length }, 'audit buffer full (database failing?): oldest rows dropped');
      }
      if (this.buffer.length >= this.batchSize || this.closed) void this.flush();
      else this.timer ??= setTimeout(() => void this.flush(), this.intervalMs).unref();
    } catch (error) {
      this.log.error({ err: error }, 'audit record failed');
    }
  }

  /** Writes every buffered row now (in batches of `batchSize`); resolves when done. Never rejects. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.writeAll());
    return this.flushing;
  }

  /** Flushes what is left and stops the timer. Call after the HTTP server stopped taking requests. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    // A batch that failed once is retried now rather than on a timer that will not come.
    if (this.buffer.length > 0) await this.flush();
  }

  /** Rows waiting to be written (for tests and metrics). */
  get pending(): number {
    return this.buffer.length;
  }

  private async writeAll(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const retry: Pending[] = [];
    while (this.buffer.length > 0) {
      const batch = this.buffer.splice(0, this.batchSize);
      try {
        await this.db
          .insertInto('audit_log')
          .values(
            batch.map(({ row }) => ({
              at: row.at,
              actor: row.actor,
              client_id: row.clientId,
              organization_id: row.organizationId,
              environment_id: row.environmentId,
              operation: row.operation,
              outcome: row.outcome,
              duration_ms: Math.max(0, Math.round(row.durationMs)),
              sql: row.sql ?? null,
              detail: row.detail ?? null,
            })),
          )
          .execute();
      } catch (error) {
        const again = batch.filter((p) => !p.retried);
        const lost = batch.length - again.length;
        this.log.error({ err: error, rows: batch.length, retrying: again.length, dropped: lost }, 'audit flush failed');
        for (const p of again) retry.push({ ...p, retried: true });
      }
    }
    if (retry.length > 0) {
      this.buffer.unshift(...retry);
      if (!this.closed) this.timer ??= setTimeout(() => void this.flush(), this.intervalMs).unref();
    }
  }
}
