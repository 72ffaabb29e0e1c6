import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { resolvePublic } from '../net/non-public-address.js';
import { checkWebhookUrl } from './safe-post.js';
import { sealSecret } from './secrets.js';
import { generateSecret, secretKeyBytes } from './signature.js';

// The admin CLI's webhook commands (src/cli/commands/webhook.ts), kept apart from the CLI so tests can call them.

export class WebhookAdminError extends Error {
  override name = 'WebhookAdminError';
}

export interface AddedWebhook {
  id: string;
  url: string;
  secret: string;
  created_at: string;
}

export async function addWebhook(
  db: Kysely<Database>,
  options: { secretKey: Buffer; allowPrivateNetwork: boolean },
  environmentId: string,
  rawUrl: string,
  givenSecret?: string,
): Promise<AddedWebhook> {
  let url: URL;
  try {
    url = checkWebhookUrl(rawUrl, options.allowPrivateNetwork);
    // Refuse now what delivery would refuse later (it checks again on every attempt: DNS can change).
    await resolvePublic(url.hostname, options.allowPrivateNetwork);
  } catch (error) {
    throw new WebhookAdminError(`cannot use ${rawUrl}: ${(error as Error).message}`);
  }
  const secret = givenSecret ?? generateSecret();
  try {
    secretKeyBytes(secret);
  } catch (error) {
    throw new WebhookAdminError(`bad --secret: ${(error as Error).message}`);
  }
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto('webhooks')
      .values({ environment_id: environmentId, url: url.href, sealed_secret: 'pending' })
      .returning(['id', 'created_at'])
      .executeTakeFirstOrThrow();
    await trx
      .updateTable('webhooks')
      .set({ sealed_secret: sealSecret(options.secretKey, row.id, secret) })
      .where('environment_id', '=', environmentId)
      .where('id', '=', row.id)
      .execute();
    return { id: row.id, url: url.href, secret, created_at: row.created_at.toISOString() };
  });
}

export interface WebhookSummary {
  id: string;
  url: string;
  created_at: string;
  deliveries: { pending: number; delivered: number; dead: number };
}

export async function listWebhooks(db: Kysely<Database>, environmentId: string): Promise<WebhookSummary[]> {
  const hooks = await db
    .selectFrom('webhooks')
    .select(['id', 'url', 'created_at'])
    .where('environment_id', '=', environmentId)
    .orderBy('created_at')
    .execute();
  const counts = await db
    .selectFrom('webhook_deliveries')
    .select(['webhook_id', 'status', (eb) => eb.fn.countAll<string>().as('n')])
    .where('environment_id', '=', environmentId)
    .groupBy(['webhook_id', 'status'])
    .execute();
  return hooks.map((hook) => {
    const deliveries = { pending: 0, delivered: 0, dead: 0 };
    for (const c of counts) if (c.webhook_id === hook.id) deliveries[c.status] = Number(c.n);
    return { id: hook.id, url: hook.url, created_at: hook.created_at.toISOString(), deliveries };
  });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function checkId(id: string): void {
  if (!UUID.test(id)) throw new WebhookAdminError(`not a webhook id: ${id} (webhook list shows them)`);
}

/** Removes a webhook and its deliveries (pending ones are not sent). */
export async function removeWebhook(db: Kysely<Database>, environmentId: string, id: string): Promise<void> {
  checkId(id);
  const removed = await db.deleteFrom('webhooks').where('environment_id', '=', environmentId).where('id', '=', id).executeTakeFirst();
  if (removed.numDeletedRows === 0n) throw new WebhookAdminError(`no webhook ${id} in this environment`);
}

/** Requeues dead deliveries (of one webhook, or all of the environment's) for a fresh series of attempts. */
export async function replayDead(db: Kysely<Database>, environmentId: string, webhookId?: string): Promise<number> {
  if (webhookId !== undefined) checkId(webhookId);
  let query = db
    .updateTable('webhook_deliveries')
    .set((eb) => ({ status: 'pending', attempts: 0, next_attempt_at: eb.fn('now'), claim: null, updated_at: eb.fn('now') }))
    .where('environment_id', '=', environmentId)
    .where('status', '=', 'dead');
  if (webhookId !== undefined) query = query.where('webhook_id', '=', webhookId);
  const result = await query.executeTakeFirst();
  return Number(result.numUpdatedRows);
}
