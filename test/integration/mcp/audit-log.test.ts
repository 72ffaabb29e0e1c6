import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Kysely } from 'kysely';
import type { Database } from '../../../src/db/schema.js';
import { createLogger } from '../../../src/logger.js';
import { AuditLog, type AuditEntry } from '../../../src/operations/audit.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.js';

// The audit log buffers rows in memory and writes them in batches, off the request path.

let database: TestDatabase;
before(async () => {
  database = await createTestDatabase();
});
after(async () => {
  await database?.drop();
});

const log = createLogger('silent');
const entry = (operation: string): AuditEntry => ({
  actor: 'user:00000000-0000-4000-8000-00000000000a',
  clientId: 'c1',
  organizationId: '00000000-0000-4000-8000-000000000001',
  environmentId: '00000000-0000-4000-8000-000000000002',
  operation,
  outcome: 'ok',
  durationMs: 1.4,
});
const count = async (prefix: string) =>
  Number(
    (
      await database.db
        .selectFrom('audit_log')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('operation', 'like', `${prefix}%`)
        .executeTakeFirstOrThrow()
    ).n,
  );

/** A Kysely whose INSERTs fail the first `failures` times, counting the statements. */
function flaky(db: Kysely<Database>, failures: number): { db: Kysely<Database>; inserts: () => number } {
  let inserts = 0;
  const proxy = new Proxy(db, {
    get(target, property, receiver) {
      if (property !== 'insertInto') return Reflect.get(target, property, receiver) as unknown;
      return (table: 'audit_log') => {
        const builder = target.insertInto(table);
        return new Proxy(builder, {
          get(b, p, r) {
            if (p !== 'values') return Reflect.get(b, p, r) as unknown;
            return (rows: unknown) => {
              const query = b.values(rows as never);
              return {
                execute: async () => {
                  inserts++;
                  if (inserts <= failures) throw new Error('database unavailable');
                  return query.execute();
                },
              };
            };
          },
        });
      };
    },
  });
  return { db: proxy, inserts: () => inserts };
}

describe('AuditLog', () => {
  it('records without touching the database, then writes the rows in one INSERT after the interval', async () => {
    const { db, inserts } = flaky(database.db, 0);
    const audit = new AuditLog(db, log, { intervalMs: 100 });
    for (let i = 0; i < 5; i++) audit.record(entry(`timed-${i}`));
    assert.equal(inserts(), 0);
    assert.equal(audit.pending, 5);
    await new Promise((resolve) => setTimeout(resolve, 250));
    assert.equal(inserts(), 1);
    assert.equal(await count('timed-'), 5);
    await audit.close();
  });

  it('flushes as soon as a batch is full, one multi-row INSERT per batch', async () => {
    const { db, inserts } = flaky(database.db, 0);
    const audit = new AuditLog(db, log, { intervalMs: 60_000, batchSize: 10 });
    for (let i = 0; i < 25; i++) audit.record(entry(`batch-${i}`));
    await audit.flush();
    assert.equal(await count('batch-'), 25);
    assert.equal(inserts(), 3);
    await audit.close();
  });

  it('loses nothing on close: every buffered row is written', async () => {
    const audit = new AuditLog(database.db, log, { intervalMs: 60_000 });
    for (let i = 0; i < 42; i++) audit.record(entry(`closing-${i}`));
    await audit.close();
    assert.equal(await count('closing-'), 42);
    assert.equal(audit.pending, 0);
  });

  it('retries a failed batch once, never throwing into the caller', async () => {
    const { db, inserts } = flaky(database.db, 1);
    const audit = new AuditLog(db, log, { intervalMs: 60_000 });
    audit.record(entry('retried-1'));
    await audit.flush();
    assert.equal(audit.pending, 1, 'kept for one retry');
    await audit.flush();
    assert.equal(inserts(), 2);
    assert.equal(await count('retried-'), 1);
    await audit.close();
  });

  it('drops a batch that fails twice, and logs it, rather than growing without bound', async () => {
    const { db, inserts } = flaky(database.db, 10);
    const audit = new AuditLog(db, log, { intervalMs: 60_000 });
    audit.record(entry('dropped-1'));
    await audit.flush();
    await audit.flush();
    assert.equal(audit.pending, 0);
    assert.equal(inserts(), 2);
    await audit.close();
    assert.equal(await count('dropped-'), 0);
  });
});
