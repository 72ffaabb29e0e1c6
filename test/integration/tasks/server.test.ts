import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import { createDb, type Database } from '../../../src/db/database.js';
import type { Lakehouse } from '../../../src/lakehouse/lakehouse.js';
import { startServer } from '../../../src/server.js';
import { TaskScheduler } from '../../../src/tasks/scheduler.js';
import { taskSettings } from '../../../src/tasks/settings.js';
import { LOCK_SPACE } from '../../../src/tasks/worker-liveness.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { testLakehouseEnv } from '../../helpers/db.js';

// The scheduler as src/server.ts wires it: a first start waits for the queue (graphile-worker's schema
// migrated); a warm start serves first and starts the queue right after; close() stops it without hanging.

/** Live task workers of any process: each holds an advisory lock of the liveness lock space (worker-liveness.ts). */
async function liveWorkers(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = ${LOCK_SPACE} AND granted`.execute(db);
  return rows[0]?.n ?? 0;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('scheduled tasks in the real server', () => {
  let app: TestApp | undefined;
  before(async () => {
    app = await startTestApp({ TASK_TICK_MS: '50', TASK_WORKERS: '1' });
  });
  after(async () => {
    await app?.server.close();
    await app?.database.drop().catch(() => undefined);
  });

  it('a first start is ready only once the queue has its schema', async () => {
    const { db } = app!.database;
    const schema = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM information_schema.schemata WHERE schema_name = 'graphile_worker'`.execute(db);
    assert.equal(schema.rows[0]?.n, 1, 'graphile-worker migrated its schema');
    await waitFor('the first server to run its task worker', async () => (await liveWorkers(db)) === 1);
  });

  it('a warm start serves before its queue starts, which then starts on its own', async () => {
    const { db } = app!.database;
    const before = await liveWorkers(db);
    const second = await startServer({
      PATH: process.env.PATH,
      PORT: '0',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      DATABASE_URL: app!.database.url,
      SECRET_KEY: Buffer.alloc(32, 7).toString('base64'),
      TASK_WORKERS: '1',
      ...testLakehouseEnv(),
    });
    try {
      // Ready, and its queue not yet started: it starts after the caller's own continuation.
      assert.equal(await liveWorkers(db), before, 'no worker of the second server yet');
      const health = await fetch(`${second.url}/healthz`);
      assert.equal(health.status, 200);
      await waitFor("the second server's task worker", async () => (await liveWorkers(db)) === before + 1);
    } finally {
      await second.close();
    }
    assert.equal(await liveWorkers(db), before, "close() stopped the second server's worker");
  });

  it('close() stops the queue and leaves no job locked', async () => {
    const { db } = app!.database;
    await app!.server.close();
    const workers = await sql<{ n: number }>`SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE locked_by IS NOT NULL`.execute(db);
    assert.equal(workers.rows[0]?.n, 0, 'no job is left locked by the stopped worker');
    assert.equal(await liveWorkers(db), 0);
  });
});

describe('a task queue started in the background', () => {
  it('logs a failure to start, tries again, and stop() ends it at once', async () => {
    // A port nothing listens on: every start fails to connect.
    const pool = new pg.Pool({ connectionString: 'postgres://nobody:nothing@127.0.0.1:1/none', connectionTimeoutMillis: 1_000 });
    const db = createDb(pool);
    const lines: string[] = [];
    const log = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    const scheduler = new TaskScheduler({
      db,
      pool,
      lakehouse: {} as Lakehouse, // never reached: no job runs
      log,
      publicUrl: 'http://127.0.0.1:1',
      settings: taskSettings({}),
      nudgeWebhooks: () => undefined,
    });
    scheduler.startInBackground();
    await waitFor('the failure to be logged', async () =>
      lines.some((line) => line.includes('the task queue could not start; retrying in 5 s')),
    );
    const stopping = Date.now();
    await scheduler.stop();
    assert.ok(Date.now() - stopping < 2_000, `stop() waited ${Date.now() - stopping} ms`);
    await db.destroy();
  });
});
