import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { QueryJob } from '../../../src/generated/tool-types.js';
import { createServiceAccount } from '../../../src/oauth/admin.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { call, callError, connectClient } from '../../helpers/mcp.js';
import { startServerProcess, type ServerProcess } from '../../helpers/server-process.js';
import { testLakehouseEnv } from '../../helpers/db.js';
import { serviceToken } from '../../helpers/tokens.js';
import { eventually } from '../assets/harness.js';

// Long queries as jobs through the SDK 1.x client against the real server (its task queue runs the jobs),
// and a second server process (src/main.ts) on the same database that runs none but answers for them.

/** Runs until cancelled or timed out: a cross join of the sample's 1.13M events with themselves. */
const SLOW_SQL = 'SELECT count(*) FROM sample.main.events a, sample.main.events b WHERE hash(a.event, b.user_id) % 97 = 3';
const FAST_SQL = 'SELECT event, count(*) AS n FROM sample.main.events GROUP BY 1 ORDER BY 1';

let app: TestApp;
let client: Client;
let token: string;
let second: ServerProcess | undefined;

before(async () => {
  app = await startTestApp({ JOB_CONCURRENCY_PER_ENV: '1', JOB_MAX_QUEUED_PER_ENV: '1', TASK_TICK_MS: '200' });
  token = await serviceToken(app, 'acme/production', ['read']);
  client = await connectClient(`${app.url}/v1`, token);
});
after(async () => {
  await client?.close();
  if (second) {
    second.child.kill('SIGTERM');
    await second.exited;
  }
  await app?.close();
});

const view = (id: string, page: { offset?: number; limit?: number } = {}, on = client) => call(on, 'view_query_job', { id, ...page });
const until = (id: string, states: QueryJob['state'][], on = client) =>
  eventually(
    async () => {
      const answer = await view(id, {}, on);
      return states.includes(answer.job.state) && answer;
    },
    30_000,
    `job ${id} to be ${states.join(' or ')}`,
  );

/** A read token of acme/production from the token endpoint of the server at `base`. */
async function tokenFrom(base: string): Promise<string> {
  const account = await createServiceAccount(app.database.db, { organization: 'acme', environment: 'production' }, 'second', ['read']);
  const response = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${account.client_id}:${account.client_secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  });
  return ((await response.json()) as { access_token: string }).access_token;
}

describe('query jobs (start_query_job, view_query_job, cancel_query_job)', () => {
  it('runs a query as a job and pages its result', async () => {
    const started = await call(client, 'start_query_job', { sql: FAST_SQL, connection: 'sample' });
    assert.ok(['queued', 'running', 'succeeded'].includes(started.state));
    const done = await until(started.id, ['succeeded', 'failed']);
    assert.equal(done.job.state, 'succeeded', JSON.stringify(done.job.error));
    assert.ok(done.result);
    const all = done.job.rows_so_far;
    assert.ok(all >= 3, `rows: ${all}`);
    assert.deepEqual(
      done.result.columns.map((c) => c.name),
      ['event', 'n'],
    );
    assert.equal(done.result.row_count, all);
    assert.ok(done.job.expires_at && Date.parse(done.job.expires_at) > Date.now());

    const first = (await view(started.id, { limit: 2 })).result;
    assert.equal(first?.row_count, 2);
    assert.equal(first?.truncated, true);
    assert.equal(first?.next_offset, 2);
    const rest = (await view(started.id, { offset: 2, limit: 10_000 })).result;
    assert.equal(rest?.row_count, all - 2);
    assert.equal(rest?.truncated, false);
    assert.deepEqual([...(first?.rows ?? []), ...(rest?.rows ?? [])], done.result.rows);
  });

  it('reports a running job, bounds the jobs of an environment, and cancels waiting and running jobs', async () => {
    const slow = await call(client, 'start_query_job', { sql: SLOW_SQL, connection: 'sample' });
    const running = await until(slow.id, ['running']);
    assert.equal(running.result, undefined);
    assert.ok(running.job.started_at);

    // JOB_CONCURRENCY_PER_ENV=1 runs it; JOB_MAX_QUEUED_PER_ENV=1 lets one more wait; a third is refused.
    const waiting = await call(client, 'start_query_job', { sql: FAST_SQL, connection: 'sample' });
    assert.equal(waiting.state, 'queued');
    const refused = await callError(client, 'start_query_job', { sql: FAST_SQL });
    assert.equal(refused.code, 'busy');
    assert.match(refused.message, /JOB_MAX_QUEUED_PER_ENV/);

    const cancelledWaiting = await call(client, 'cancel_query_job', { id: waiting.id });
    assert.equal(cancelledWaiting.state, 'cancelled');
    assert.equal((await view(slow.id)).job.state, 'running', 'waiting behind it, not ahead');

    await call(client, 'cancel_query_job', { id: slow.id });
    const cancelled = await until(slow.id, ['cancelled', 'succeeded', 'failed']);
    assert.equal(cancelled.job.state, 'cancelled');
    assert.equal(cancelled.job.error?.code, 'cancelled');
    // A finished job stays as it ended.
    assert.equal((await call(client, 'cancel_query_job', { id: slow.id })).state, 'cancelled');
  });

  it('times a job out after its timeout_ms', async () => {
    const job = await call(client, 'start_query_job', { sql: SLOW_SQL, connection: 'sample', timeout_ms: 1_500 });
    const ended = await until(job.id, ['timed_out', 'failed', 'succeeded']);
    assert.equal(ended.job.state, 'timed_out');
    assert.equal(ended.job.error?.code, 'query_timeout');
  });

  it("keeps running after the client disconnects, and hides a job from another environment's tokens", async () => {
    const leaving = await connectClient(`${app.url}/v1`, token, 'leaving');
    const job = await call(leaving, 'start_query_job', { sql: FAST_SQL, connection: 'sample' });
    await leaving.close();
    assert.equal((await until(job.id, ['succeeded', 'failed'])).job.state, 'succeeded');

    const other = await connectClient(`${app.url}/v1`, await serviceToken(app, 'acme/staging', ['read']), 'other env');
    try {
      assert.equal((await callError(other, 'view_query_job', { id: job.id })).code, 'not_found');
      assert.equal((await callError(other, 'cancel_query_job', { id: job.id })).code, 'not_found');
      assert.equal((await callError(other, 'view_query_job', { id: '00000000-0000-4000-8000-000000000000' })).code, 'not_found');
    } finally {
      await other.close();
    }
  });

  it('answers status, result and cancel from a second server process that runs no job itself', async () => {
    second = await startServerProcess({
      ...process.env,
      ...testLakehouseEnv(),
      PORT: '0',
      DATABASE_URL: app.database.url,
      SECRET_KEY: Buffer.alloc(32, 7).toString('base64'),
      LOG_LEVEL: 'warn',
      TASK_WORKERS: '0',
    });
    // Its own PUBLIC_URL (a token's audience): a token from its own token endpoint.
    const secondBase = `http://localhost:${second.port}`;
    const done = await call(client, 'start_query_job', { sql: FAST_SQL, connection: 'sample' });
    await until(done.id, ['succeeded']);
    const elsewhere = await connectClient(`${secondBase}/v1`, await tokenFrom(secondBase), 'second process');
    try {
      const answer = await view(done.id, { limit: 1 }, elsewhere);
      assert.equal(answer.job.state, 'succeeded');
      assert.equal(answer.result?.row_count, 1);

      const slow = await call(client, 'start_query_job', { sql: SLOW_SQL, connection: 'sample' });
      await until(slow.id, ['running'], elsewhere);
      await call(elsewhere, 'cancel_query_job', { id: slow.id });
      assert.equal((await until(slow.id, ['cancelled', 'failed', 'succeeded'])).job.state, 'cancelled');
    } finally {
      await elsewhere.close();
    }
  });
});
