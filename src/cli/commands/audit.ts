import { findEnvironment } from '../../db/directory.js';
import { parseEnvironmentRef } from '../../db/names.js';
import { parseSince, readAuditTrail } from '../../operations/audit-trail.js';
import { positional, UsageError, type Command } from '../command.js';

export const audit: Command = {
  words: ['audit'],
  usage: '<org>/<env> [--since <ISO time | 30m | 24h | 7d>] [--limit <n>]',
  summary: "show an environment's audit log, newest first (tool and REST calls: who, client, outcome, duration, SQL)",
  positionals: ['org/env'],
  options: { since: { type: 'string' }, limit: { type: 'string' } },
  async run(context, args) {
    const ref = parseEnvironmentRef(positional(args, 0));
    const limit = args.values.limit === undefined ? 100 : Number(args.values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError('--limit must be a whole number from 1 to 10000');
    let since: Date | undefined;
    try {
      since = typeof args.values.since === 'string' ? parseSince(args.values.since) : undefined;
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const db = await context.db();
    const environment = await findEnvironment(db, ref);
    const { items } = await readAuditTrail(db, { environmentId: environment.id, limit, ...(since ? { since } : {}) });
    const lines = items.map(
      (e) =>
        `${e.at}  ${e.actor}  ${e.operation}  ${e.outcome}  ${e.duration_ms} ms${e.sql ? `  ${e.sql.replace(/\s+/g, ' ').slice(0, 120)}` : ''}`,
    );
    return { json: { entries: items }, text: lines.length ? lines.join('\n') : 'no audit entries' };
  },
};
