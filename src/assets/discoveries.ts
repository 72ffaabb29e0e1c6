import crypto from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database, DiscoveryStatus } from '../db/schema.js';
import { AppError } from '../errors.js';
import type { ToolHandler, ToolIO } from '../generated/handlers.js';
import type { Principal } from '../oauth/principal.js';
import { actorOf, afterCursor, assetNotFound, compact, decodeCursor, iso, page, SORT_KEY_SQL, staleVersion } from './common.js';
import { createOnce } from './idempotency.js';
import { deleteResult } from './delete-asset.js';
import { findInsight, liveInsight, toInsight } from './insight-rows.js';
import { storeNotification } from './notifications.js';

type Discovery = ToolIO['create_discovery']['output'];

const COLUMNS = [
  'id',
  'version',
  'title',
  'summary',
  'severity',
  'status',
  'sql',
  'insight_id',
  'notification_id',
  'decided_by',
  'decided_at',
  'decision_note',
  'created_by',
  'created_at',
  'updated_at',
] as const;

interface DiscoveryRow {
  id: string;
  version: number;
  title: string;
  summary: string;
  severity: Discovery['severity'];
  status: DiscoveryStatus;
  sql: string | null;
  insight_id: string | null;
  notification_id: string | null;
  decided_by: string | null;
  decided_at: Date | null;
  decision_note: string | null;
  created_by: string;
  created_at: Date;
  updated_at: Date;
}

const toDiscovery = (row: DiscoveryRow): Discovery =>
  compact({
    ...row,
    decided_at: row.decided_at ? iso(row.decided_at) : undefined,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  });

export const createDiscovery: ToolHandler<'create_discovery'> = async (input, ctx) => {
  const { principal } = ctx;
  const notify = input.notify;
  const result = await createOnce(ctx.db, { environmentId: principal.environmentId, tool: 'create_discovery' }, input, async (trx) => {
    if (input.insight_id !== undefined) await findInsight(trx, principal.environmentId, input.insight_id);
    // The id is chosen here so that the notification (stored first: the discovery refers to it) can name it.
    const id = crypto.randomUUID();
    const notification = notify
      ? await storeNotification(
          trx,
          principal,
          ctx.config.publicUrl,
          { title: `Discovery: ${input.title}`.slice(0, 200), body: input.summary, severity: input.severity },
          { discoveryId: id, insightId: input.insight_id },
        )
      : undefined;
    const row = await trx
      .insertInto('discoveries')
      .values({
        id,
        environment_id: principal.environmentId,
        title: input.title,
        summary: input.summary,
        severity: input.severity,
        sql: input.sql ?? null,
        insight_id: input.insight_id ?? null,
        notification_id: notification?.id ?? null,
        created_by: actorOf(principal),
      })
      .returning(COLUMNS)
      .executeTakeFirstOrThrow();
    return toDiscovery(row);
  });
  if (notify) ctx.webhooks.nudge();
  return result;
};

export const listDiscoveries: ToolHandler<'list_discoveries'> = async (input, ctx) => {
  const limit = input.limit;
  const after = decodeCursor(input.cursor);
  let query = ctx.db
    .selectFrom('discoveries')
    .select([...COLUMNS, sql<string>`${sql.raw(SORT_KEY_SQL)}`.as('sort_key')])
    .where('environment_id', '=', ctx.principal.environmentId);
  if (input.status) query = query.where('status', '=', input.status);
  if (input.severity) query = query.where('severity', '=', input.severity);
  if (after) query = query.where(afterCursor(after));
  const rows = await query
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  const { rows: kept, next_cursor } = page(rows, limit);
  return compact({ items: kept.map(({ sort_key: _key, ...row }) => toDiscovery(row)), next_cursor });
};

async function findDiscovery(db: Kysely<Database>, environmentId: string, id: string): Promise<DiscoveryRow> {
  const row = await db
    .selectFrom('discoveries')
    .select(COLUMNS)
    .where('environment_id', '=', environmentId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw assetNotFound('discovery', id);
  return row;
}

export const viewDiscovery: ToolHandler<'view_discovery'> = async (input, ctx) => {
  const row = await findDiscovery(ctx.db, ctx.principal.environmentId, input.id);
  // An evidence insight deleted since is left out; the discovery still names its insight_id.
  const evidence = row.insight_id ? await liveInsight(ctx.db, ctx.principal.environmentId, row.insight_id) : undefined;
  return compact({ discovery: toDiscovery(row), insight: evidence ? toInsight(evidence) : undefined });
};

/** The caller's role in its token's environment: users by membership; service accounts are never admins. */
async function isEnvironmentAdmin(db: Kysely<Database>, principal: Principal): Promise<boolean> {
  if (principal.kind !== 'user' || !principal.subject.startsWith('user:')) return false;
  const row = await db
    .selectFrom('memberships')
    .select('role')
    .where('user_id', '=', principal.subject.slice('user:'.length))
    .where('environment_id', '=', principal.environmentId)
    .executeTakeFirst();
  return row?.role === 'admin';
}

export interface Decision {
  id: string;
  decision: 'approved' | 'rejected';
  /** When given, the discovery must still be at this version. */
  version?: number | undefined;
  note?: string | undefined;
}

/**
 * Approves or rejects a discovery (REST, environment admins with the write scope). A pending discovery can
 * be decided; a decided one can be decided again (changing one's mind) only with its current version.
 */
export async function decideDiscovery(db: Kysely<Database>, principal: Principal, decision: Decision): Promise<Discovery> {
  if (!principal.scopes.has('write')) {
    throw new AppError('insufficient_scope', 'Deciding a discovery needs the "write" scope.');
  }
  if (!(await isEnvironmentAdmin(db, principal))) {
    throw new AppError('forbidden', 'Only admins of this environment may approve or reject discoveries.');
  }
  const current = await findDiscovery(db, principal.environmentId, decision.id);
  if (decision.version !== undefined && decision.version !== current.version) {
    throw staleVersion('discovery', decision.id, decision.version, current.version);
  }
  const row = await db
    .updateTable('discoveries')
    .set((eb) => ({
      status: decision.decision,
      decided_by: actorOf(principal),
      decided_at: sql<Date>`now()`,
      decision_note: decision.note ?? null,
      version: eb('version', '+', 1),
      updated_at: sql<Date>`now()`,
    }))
    .where('environment_id', '=', principal.environmentId)
    .where('id', '=', decision.id)
    .where('version', '=', current.version)
    .returning(COLUMNS)
    .executeTakeFirst();
  if (!row) {
    const now = await findDiscovery(db, principal.environmentId, decision.id);
    throw staleVersion('discovery', decision.id, current.version, now.version);
  }
  return toDiscovery(row);
}

/**
 * A hard delete. The notification announcing the discovery is not deleted: it records what was sent, and its
 * webhook deliveries may already have been made.
 */
export const deleteDiscovery: ToolHandler<'delete_discovery'> = async (input, ctx) => {
  const row = await ctx.db
    .deleteFrom('discoveries')
    .where('environment_id', '=', ctx.principal.environmentId)
    .where('id', '=', input.id)
    .returning('id')
    .executeTakeFirst();
  return deleteResult(ctx, 'discovery', input.id, row !== undefined);
};
