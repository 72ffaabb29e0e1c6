import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { createEnvironment, createOrganization } from '../../../src/db/directory.js';
import { createServiceAccount } from '../../../src/oauth/admin.js';
import { createTestDatabase, testLakehouseEnv, type TestDatabase } from '../../helpers/db.js';
import { call, connectClient } from '../../helpers/mcp.js';
import { startServerProcess } from '../../helpers/server-process.js';
import { eventually } from '../assets/harness.js';

// Two real server processes (src/main.ts, as `npm start` runs it) on one database, each with its scheduler
// ticking every 50 ms: every slot of every task is queued once and commits one run and one discovery.

const SECRET_KEY = Buffer.alloc(32, 5).toString('base64');
const TASKS = 8;
const ROUNDS = 3;

describe('scheduled tasks across two server processes', () => {
  let database: TestDatabase;
  const children: ChildProcess[] = [];
  let port = 0;

  before(async () => {
    database = await createTestDatabase();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...testLakehouseEnv(),
      PORT: '0',
      DATABASE_URL: database.url,
      SECRET_KEY,
      LOG_LEVEL: 'warn',
      TASK_TICK_MS: '50',
    };
    // One after the other: the second start finds the first one's migrations.
    for (let i = 0; i < 2; i++) {
      const started = await startServerProcess(env);
      children.push(started.child);
      port ||= started.port;
    }
  });

  after(async () => {
    for (const child of children) {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(undefined)));
    }
    await database.drop();
  });

  it('runs each slot once, whichever process plans or runs it', async () => {
    await createOrganization(database.db, 'acme');
    await createEnvironment(database.db, { organization: 'acme', environment: 'production' });
    const account = await createServiceAccount(database.db, { organization: 'acme', environment: 'production' }, 'tasks', [
      'read',
      'write',
    ]);
    const url = `http://localhost:${port}`;
    const tokenResponse = await fetch(`${url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: account.client_id, client_secret: account.client_secret }),
    });
    const { access_token: token } = (await tokenResponse.json()) as { access_token: string };
    const client = await connectClient(`${url}/v1`, token);
    const ids: string[] = [];
    try {
      for (let i = 0; i < TASKS; i++) {
        const task = await call(client, 'create_task', {
          title: `Task ${i}`,
          schedule: '0 0 1 1 *',
          definition: { kind: 'monitor', sql: `SELECT ${i + 1} AS value`, op: 'gt', threshold: 0 },
        });
        ids.push(task.id);
      }
    } finally {
      await client.close();
    }
    for (let round = 1; round <= ROUNDS; round++) {
      // Time passes: every task's next slot falls due now (a distinct slot per round), for both processes at once.
      await sql`UPDATE tasks SET next_run_at = date_trunc('second', now()) + make_interval(secs => ${round}::int) - interval '1 hour'`.execute(
        database.db,
      );
      await eventually(
        async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM task_runs`.execute(database.db)).rows[0]?.n === round * TASKS,
        60_000,
        `round ${round}'s runs`,
      );
    }
    // Both processes keep ticking; nothing more is queued or committed.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const runs = await database.db.selectFrom('task_runs').select(['task_id', 'slot', 'outcome', 'attempt']).execute();
    assert.equal(runs.length, ROUNDS * TASKS);
    assert.ok(runs.every((r) => r.outcome === 'finding' && r.attempt === 1));
    const discoveries = await database.db.selectFrom('discoveries').select('created_by').execute();
    assert.equal(discoveries.length, ROUNDS * TASKS, 'one discovery per slot');
    const queued = await sql<{ n: number }>`SELECT count(*)::int AS n FROM graphile_worker.jobs`.execute(database.db);
    assert.equal(queued.rows[0]?.n, 0, 'no job left over');
    const next = await database.db.selectFrom('tasks').select('next_run_at').execute();
    assert.ok(
      next.every((t) => t.next_run_at!.getTime() > Date.now()),
      'every task planned its next slot after now',
    );
  });
});
