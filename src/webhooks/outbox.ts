import crypto from 'node:crypto';
import type { Transaction } from 'kysely';
import type { Database } from '../db/schema.js';

/** A Standard Webhooks message id: the same on every attempt, so receivers can deduplicate by it. */
export const messageId = () => `msg_${crypto.randomUUID().replaceAll('-', '')}`;

/**
 * Writes one outbox row per webhook of the environment, in the caller's transaction (the notification's):
 * the notification and its deliveries commit together or not at all. Answers the webhook ids.
 */
export async function enqueueDeliveries(
  trx: Transaction<Database>,
  environmentId: string,
  notificationId: string,
  payload: string,
): Promise<string[]> {
  const hooks = await trx.selectFrom('webhooks').select('id').where('environment_id', '=', environmentId).orderBy('created_at').execute();
  if (hooks.length === 0) return [];
  await trx
    .insertInto('webhook_deliveries')
    .values(
      hooks.map((hook) => ({
        id: messageId(),
        environment_id: environmentId,
        webhook_id: hook.id,
        notification_id: notificationId,
        payload,
      })),
    )
    .execute();
  return hooks.map((hook) => hook.id);
}
