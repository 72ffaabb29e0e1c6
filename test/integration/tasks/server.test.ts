import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { startTestApp, type TestApp } from '../../helpers/app.js';

// The scheduler as src/server.ts wires it: started with the server (graphile-worker's schema migrated), and
// stopped by close() without hanging, also with a run's job waiting in the queue.

describe('scheduled tasks in the real server', () => {
  let app: TestApp | undefined;
  before(async () => {
    app = await startTestApp({ TASK_TICK_MS: '50' });
  });
  after(async () => {
    await app?.database.drop().catch(() => undefined);
  });

  it('starts the queue with the server and close() stops it', async () => {
    const { db } = app!.database;
    const schema = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM information_schema.schemata WHERE schema_name = 'graphile_worker'`.execute(db);
    assert.equal(schema.rows[0]?.n, 1, 'graphile-worker migrated its schema');
    await app!.server.close();
    const workers = await sql<{ n: number }>`SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE locked_by IS NOT NULL`.execute(db);
    assert.equal(workers.rows[0]?.n, 0, 'no job is left locked by the stopped worker');
  });
});
