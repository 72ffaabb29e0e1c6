import { loadConfig } from '../../config.js';
import { findEnvironment } from '../../db/directory.js';
import { parseEnvironmentRef } from '../../db/names.js';
import { loadSecretKey } from '../../secret-key.js';
import { addWebhook, listWebhooks, removeWebhook, replayDead, WebhookAdminError } from '../../webhooks/admin.js';
import { positional, UsageError, type Command, type CommandArgs, type CommandContext } from '../command.js';

async function environmentOf(context: CommandContext, args: CommandArgs) {
  const ref = parseEnvironmentRef(positional(args, 0));
  const db = await context.db();
  return { db, ref, environment: await findEnvironment(db, ref) };
}

/** Usage errors for bad input (exit 2, nothing changed), whatever layer found them. */
async function usage<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof WebhookAdminError) throw new UsageError(error.message);
    throw error;
  }
}

export const webhookAdd: Command = {
  words: ['webhook', 'add'],
  usage: '<org>/<env> <url> [--secret whsec_…]',
  summary: "deliver the environment's notifications to an https URL (Standard Webhooks signatures); prints its id and secret",
  positionals: ['org/env', 'url'],
  options: { secret: { type: 'string' } },
  async run(context, args) {
    const url = positional(args, 1);
    const secret = typeof args.values.secret === 'string' ? args.values.secret : undefined;
    const { db, ref, environment } = await environmentOf(context, args);
    const config = loadConfig();
    const added = await usage(() =>
      addWebhook(db, { secretKey: loadSecretKey(config), allowPrivateNetwork: config.allowPrivateNetwork }, environment.id, url, secret),
    );
    return {
      json: { webhook: added },
      text: `added webhook ${added.id} to ${ref.organization}/${ref.environment}: ${added.url}\nsecret (verify signatures with it; shown once): ${added.secret}`,
    };
  },
};

export const webhookList: Command = {
  words: ['webhook', 'list'],
  usage: '<org>/<env>',
  summary: "the environment's webhooks with their deliveries pending, delivered and dead",
  positionals: ['org/env'],
  options: {},
  async run(context, args) {
    const { db, environment } = await environmentOf(context, args);
    const webhooks = await listWebhooks(db, environment.id);
    return {
      json: { webhooks },
      text:
        webhooks.length === 0
          ? 'no webhooks'
          : webhooks
              .map(
                (w) => `${w.id}  ${w.url}  pending ${w.deliveries.pending}, delivered ${w.deliveries.delivered}, dead ${w.deliveries.dead}`,
              )
              .join('\n'),
    };
  },
};

export const webhookRemove: Command = {
  words: ['webhook', 'remove'],
  usage: '<org>/<env> <webhook-id>',
  summary: 'remove a webhook (its pending deliveries are dropped)',
  positionals: ['org/env', 'webhook-id'],
  options: {},
  async run(context, args) {
    const id = positional(args, 1);
    const { db, environment } = await environmentOf(context, args);
    await usage(() => removeWebhook(db, environment.id, id));
    return { json: { removed: id }, text: `removed webhook ${id}` };
  },
};

export const webhookReplay: Command = {
  words: ['webhook', 'replay'],
  usage: '<org>/<env> [--webhook <id>]',
  summary: 'requeue dead deliveries (dead letters) of the environment, or of one webhook, for new attempts',
  positionals: ['org/env'],
  options: { webhook: { type: 'string' } },
  async run(context, args) {
    const webhook = args.values.webhook;
    if (webhook !== undefined && typeof webhook !== 'string') throw new UsageError('--webhook needs an id');
    const { db, environment } = await environmentOf(context, args);
    const requeued = await usage(() => replayDead(db, environment.id, webhook));
    return { json: { requeued }, text: `requeued ${requeued} dead deliver${requeued === 1 ? 'y' : 'ies'}` };
  },
};
