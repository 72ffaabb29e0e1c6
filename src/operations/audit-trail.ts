import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { AppError } from '../errors.js';
import type { OperationHandler } from '../generated/handlers.js';
import type { Logger } from '../logger.js';

/** One audit row as the CLI and the REST route show it. */
export interface AuditTrailEntry {
  id: number;
  at: string;
  actor: string;
  client_id: string | null;
  operation: string;
  outcome: string;
  duration_ms: number;
  sql: string | null;
}

export interface AuditQuery {
  environmentId: string;
  since?: Date;
  limit: number;
  /** The id of the last entry of the previous page: pages go from newest to oldest. */
  before?: number;
}

/** An environment's audit trail, newest first, one page at a time. */
export async function readAuditTrail(
  db: Kysely<Database>,
  query: AuditQuery,
): Promise<{ items: AuditTrailEntry[]; next: number | undefined }> {
  let select = db
    .selectFrom('audit_log')
    .select(['id', 'at', 'actor', 'client_id', 'operation', 'outcome', 'duration_ms', 'sql'])
    .where('environment_id', '=', query.environmentId)
    .orderBy('id', 'desc')
    .limit(query.limit + 1);
  if (query.since) select = select.where('at', '>=', query.since);
  if (query.before !== undefined) select = select.where('id', '<', query.before);
  const rows = await select.execute();
  const page = rows.slice(0, query.limit);
  return {
    items: page.map((r) => ({ ...r, at: new Date(r.at).toISOString() })),
    next: rows.length > query.limit ? page.at(-1)?.id : undefined,
  };
}

const DURATION = /^(\d+)\s*(m|h|d)$/;

/** `--since` as an ISO-8601 time or a duration back from now (`30m`, `24h`, `7d`). */
export function parseSince(value: string, now = Date.now()): Date {
  const duration = DURATION.exec(value.trim());
  if (duration) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[duration[2] as 'm' | 'h' | 'd'];
    return new Date(now - Number(duration[1]) * unit);
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) {
    throw new AppError('invalid_since', `"${value}" is neither an ISO-8601 time nor a duration such as 24h or 7d`);
  }
  return date;
}

/** Deletes audit rows older than the retention period; returns how many. */
export async function pruneAuditLog(db: Kysely<Database>, retentionDays: number): Promise<number> {
  const result = await db
    .deleteFrom('audit_log')
    .where('at', '<', sql<Date>`now() - make_interval(days => ${retentionDays})`)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Prunes at start and then hourly; every process may do it (the DELETE is idempotent). */
export function startAuditRetention(db: Kysely<Database>, retentionDays: number, log: Logger): { stop(): void } {
  const prune = () =>
    pruneAuditLog(db, retentionDays).then(
      (deleted) => deleted > 0 && log.info({ deleted, retentionDays }, 'pruned audit log'),
      (error: unknown) => log.warn({ err: error }, 'audit log pruning failed; retrying in an hour'),
    );
  void prune();
  const timer = setInterval(() => void prune(), 3_600_000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/** REST: the audit log of the token's environment, for its admins only. */
export const listAuditLog: OperationHandler<'listAuditLog'> = async ({ query }, { db, principal }) => {
  if (!principal) throw new AppError('unauthorized', 'This route needs a bearer token.');
  const membership =
    principal.kind === 'user'
      ? await db
          .selectFrom('memberships')
          .select('role')
          .where('user_id', '=', principal.subject.replace(/^user:/, ''))
          .where('environment_id', '=', principal.environmentId)
          .executeTakeFirst()
      : undefined;
  if (membership?.role !== 'admin') {
    throw new AppError('forbidden', 'Only admins of this environment read its audit log.');
  }
  const { items, next } = await readAuditTrail(db, {
    environmentId: principal.environmentId,
    limit: query.limit,
    ...(query.since ? { since: parseSince(query.since) } : {}),
    ...(query.cursor ? { before: Number(query.cursor) } : {}),
  });
  return { status: 200, body: { items, ...(next !== undefined ? { next_cursor: String(next) } : {}) } };
};
