import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, Severity } from '../db/schema.js';
import type { ToolHandler, ToolIO } from '../generated/handlers.js';
import type { Principal } from '../oauth/principal.js';
import { enqueueDeliveries } from '../webhooks/outbox.js';
import { actorOf, afterCursor, compact, decodeCursor, iso, page, SORT_KEY_SQL } from './common.js';
import { createOnce } from './idempotency.js';

type Notification = ToolIO['create_notification']['output'];

export interface NewNotification {
  title: string;
  body: string;
  severity: Severity;
  link?: string | undefined;
}

/** What a notification announces besides itself (a discovery, and the insight it cites). */
export interface Announced {
  discoveryId: string;
  insightId?: string | undefined;
}

/**
 * Where a receiver views what a webhook announces, on the REST API: the discovery (which answers its
 * insight too), or the list of notifications (a notification has no route of its own).
 */
const viewUrl = (publicUrl: string, about: Announced | undefined) =>
  about ? `${publicUrl}/api/v1/discoveries/${about.discoveryId}` : `${publicUrl}/api/v1/notifications`;

/**
 * Stores a notification and its outbox rows (one per webhook of the environment) in the caller's
 * transaction. The webhook body follows the Standard Webhooks payload shape: type, timestamp, data; data
 * carries the ids of what it announces and a `url` to view it.
 */
export async function storeNotification(
  trx: Transaction<Database>,
  principal: Principal,
  publicUrl: string,
  input: NewNotification,
  about?: Announced,
): Promise<Notification> {
  const row = await trx
    .insertInto('notifications')
    .values({
      environment_id: principal.environmentId,
      title: input.title,
      body: input.body,
      severity: input.severity,
      link: input.link ?? null,
      created_by: actorOf(principal),
    })
    .returning(['id', 'created_at'])
    .executeTakeFirstOrThrow();
  const notification = compact({
    id: row.id,
    title: input.title,
    body: input.body,
    severity: input.severity,
    link: input.link,
    created_by: actorOf(principal),
    created_at: iso(row.created_at),
  });
  const payload = JSON.stringify({
    type: 'notification.created',
    timestamp: notification.created_at,
    data: compact({
      ...notification,
      organization: principal.organization,
      environment: principal.environment,
      discovery_id: about?.discoveryId,
      insight_id: about?.insightId,
      url: viewUrl(publicUrl, about),
    }),
  });
  const hooks = await enqueueDeliveries(trx, principal.environmentId, row.id, payload);
  return { ...notification, deliveries: hooks.map((webhook_id) => ({ webhook_id, status: 'pending', attempts: 0 })) };
}

export const createNotification: ToolHandler<'create_notification'> = async (input, ctx) => {
  const result = await createOnce(ctx.db, { environmentId: ctx.principal.environmentId, tool: 'create_notification' }, input, (trx) =>
    storeNotification(trx, ctx.principal, ctx.config.publicUrl, input),
  );
  ctx.webhooks.nudge();
  return result;
};

/** Delivery status per notification, for list_notifications. */
async function deliveriesOf(db: Kysely<Database>, environmentId: string, ids: string[]) {
  if (ids.length === 0) return new Map<string, Notification['deliveries']>();
  const rows = await db
    .selectFrom('webhook_deliveries')
    .select(['notification_id', 'webhook_id', 'status', 'attempts', 'next_attempt_at', 'last_status', 'last_error'])
    .where('environment_id', '=', environmentId)
    .where('notification_id', 'in', ids)
    .orderBy('created_at')
    .execute();
  const byNotification = new Map<string, Notification['deliveries']>();
  for (const row of rows) {
    const list = byNotification.get(row.notification_id) ?? [];
    list.push(
      compact({
        webhook_id: row.webhook_id,
        status: row.status,
        attempts: row.attempts,
        next_attempt_at: row.status === 'pending' ? iso(row.next_attempt_at) : undefined,
        last_status: row.last_status,
        last_error: row.last_error,
      }),
    );
    byNotification.set(row.notification_id, list);
  }
  return byNotification;
}

export const listNotifications: ToolHandler<'list_notifications'> = async (input, ctx) => {
  const environmentId = ctx.principal.environmentId;
  const limit = input.limit;
  const after = decodeCursor(input.cursor);
  let query = ctx.db
    .selectFrom('notifications')
    .select(['id', 'title', 'body', 'severity', 'link', 'created_by', 'created_at', sql<string>`${sql.raw(SORT_KEY_SQL)}`.as('sort_key')])
    .where('environment_id', '=', environmentId);
  if (input.severity) query = query.where('severity', '=', input.severity);
  if (after) query = query.where(afterCursor(after));
  const rows = await query
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  const { rows: kept, next_cursor } = page(rows, limit);
  const deliveries = await deliveriesOf(
    ctx.db,
    environmentId,
    kept.map((r) => r.id),
  );
  return compact({
    items: kept.map((r) =>
      compact({
        id: r.id,
        title: r.title,
        body: r.body,
        severity: r.severity,
        link: r.link,
        created_by: r.created_by,
        created_at: iso(r.created_at),
        deliveries: deliveries.get(r.id) ?? [],
      }),
    ),
    next_cursor,
  });
};
