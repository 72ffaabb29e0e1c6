import crypto from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import { AppError } from '../errors.js';

/** How long a key answers its first result; older keys are pruned (src/webhooks/worker.ts, with the outbox). */
export const IDEMPOTENCY_TTL_HOURS = 24;

/** JSON with object keys sorted, so that equal inputs hash equally whatever their key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

export function requestHash(input: object): Buffer {
  const { idempotency_key: _key, ...payload } = input as Record<string, unknown>;
  return crypto.createHash('sha256').update(canonical(payload)).digest();
}

/**
 * Runs a create tool's work in one transaction with its idempotency record. The key row is inserted first:
 * a concurrent call with the same key waits on it (unique index) until this transaction ends, then finds the
 * stored result. Same key + same payload → the first result (nothing created); a different payload →
 * `idempotency_conflict`. Without a key, the work simply runs in a transaction.
 */
export async function createOnce<T extends object>(
  db: Kysely<Database>,
  scope: { environmentId: string; tool: string },
  input: { idempotency_key?: string },
  create: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  const key = input.idempotency_key;
  if (key === undefined) return db.transaction().execute(create);
  const hash = requestHash(input);
  const where = { environment_id: scope.environmentId, tool: scope.tool, key };
  return db.transaction().execute(async (trx) => {
    const claimed = await trx
      .insertInto('idempotency_keys')
      .values({ ...where, request_hash: hash, result: null })
      .onConflict((oc) => oc.columns(['environment_id', 'tool', 'key']).doNothing())
      .returning('key')
      .executeTakeFirst();
    if (!claimed) {
      const row = await trx
        .selectFrom('idempotency_keys')
        .select(['request_hash', 'result'])
        .where('environment_id', '=', where.environment_id)
        .where('tool', '=', where.tool)
        .where('key', '=', where.key)
        .executeTakeFirst();
      if (!row || row.result === null) {
        throw new AppError('idempotency_conflict', 'A call with this idempotency_key is still being processed; retry in a moment.');
      }
      if (!row.request_hash.equals(hash)) {
        throw new AppError(
          'idempotency_conflict',
          `The idempotency_key "${key}" was already used for a different ${scope.tool} input; use a new key for a new request.`,
        );
      }
      return row.result as T;
    }
    const result = await create(trx);
    await trx
      .updateTable('idempotency_keys')
      .set({ result: JSON.stringify(result) })
      .where('environment_id', '=', where.environment_id)
      .where('tool', '=', where.tool)
      .where('key', '=', where.key)
      .execute();
    return result;
  });
}
