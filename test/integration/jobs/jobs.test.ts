import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  Client as ModernClient,
  ClientCredentialsProvider,
  StreamableHTTPClientTransport as ModernTransport,
} from '@modelcontextprotocol/client';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { QueryJob } from '../../../src/generated/tool-types.js';
import { JOB_MAX_ATTEMPTS } from '../../../src/jobs/jobs.js';
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
const TASKS = 'io.modelcontextprotocol/tasks';
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
    // The whole result is a file of the result store (item 1), expiring with the job, downloadable.
    assert.equal(done.export?.format, 'parquet');
    assert.equal(done.export?.rows, all);
    assert.equal(done.export?.expires_at, done.job.expires_at);
    const download = await fetch(done.export.url, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(download.status, 200);
    assert.equal((await download.arrayBuffer()).byteLength, done.export.bytes);

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
    // While it runs, its status counts the rows read so far (DuckDB's progress), from the row any process reads.
    const progressing = await eventually(
      async () => {
        const answer = await view(slow.id);
        return answer.job.state === 'running' && answer.job.rows_so_far > 0 && answer;
      },
      15_000,
      'rows so far to grow while the job runs',
    );
    assert.ok(progressing.job.elapsed_ms > 0);

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

/** A result schema for the 2.x client's request(): the tasks extension's shapes are not in the SDK. */
const anyResult = <T>() => ({
  '~standard': {
    version: 1 as const,
    vendor: 'test',
    validate: (value: unknown) => ({ value: value as T }),
    types: undefined as unknown as { input: T; output: T },
  },
});

interface WireTask {
  taskId: string;
  status: 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';
  pollIntervalMs?: number;
  ttlMs: number | null;
  createdAt: string;
  lastUpdatedAt: string;
  result?: { structuredContent?: { columns: { name: string }[]; rows: unknown[][]; row_count: number }; isError?: boolean };
}

describe('the MCP tasks extension (io.modelcontextprotocol/tasks) through the SDK 2.x client', () => {
  let modern: ModernClient;
  /** The raw results of tools/call as the server sent them (the 2.4 client refuses resultType "task" itself). */
  const created: Record<string, unknown>[] = [];

  before(async () => {
    const account = await createServiceAccount(app.database.db, { organization: 'acme', environment: 'production' }, 'sdk v2 tasks', [
      'read',
      'write',
    ]);
    const authProvider = new ClientCredentialsProvider({
      clientId: account.client_id,
      clientSecret: account.client_secret,
      scope: 'read write',
      expectedIssuer: app.server.config.issuerUrl,
    });
    const capture: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (typeof init?.body === 'string' && init.body.includes('"tools/call"')) {
        const body = (await response.clone().json()) as { result?: Record<string, unknown> };
        if (body.result) created.push(body.result);
      }
      return response;
    };
    modern = new ModernClient(
      { name: 'sdk v2 tasks', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } }, capabilities: { extensions: { [TASKS]: {} } } },
    );
    await modern.connect(new ModernTransport(new URL(`${app.url}/v1`), { authProvider, fetch: capture }));
  });
  after(() => modern?.close());

  /** tools/call query_lakehouse with the extension declared: answers the CreateTaskResult. */
  async function startTask(sql: string, limit = 100): Promise<WireTask> {
    created.length = 0;
    await assert.rejects(modern.callTool({ name: 'query_lakehouse', arguments: { sql, connection: 'sample', limit } }), /task/);
    const result = created[0] as (WireTask & { resultType: string }) | undefined;
    assert.equal(result?.resultType, 'task', JSON.stringify(result));
    return result;
  }
  const getTask = (taskId: string) => modern.request({ method: 'tasks/get', params: { taskId } }, anyResult<WireTask>());

  /** Polls tasks/get at the task's pollIntervalMs until it is terminal, as the extension asks clients to. */
  async function poll(task: WireTask): Promise<WireTask[]> {
    const seen: WireTask[] = [];
    let current = task;
    while (!['completed', 'failed', 'cancelled'].includes(current.status)) {
      await new Promise((resolve) => setTimeout(resolve, current.pollIntervalMs ?? 1_000));
      current = await getTask(task.taskId);
      seen.push(current);
      assert.ok(seen.length < 60, 'the task never ended');
    }
    return seen;
  }

  it('declares the extension in server/discover', () => {
    assert.deepEqual(modern.getServerCapabilities()?.extensions?.[TASKS], {});
  });

  it('answers query_lakehouse with a task whose polled result is the tool’s normal result', async () => {
    const task = await startTask(FAST_SQL, 2);
    assert.equal(task.status, 'working');
    assert.ok(task.ttlMs && task.ttlMs > 0 && task.pollIntervalMs);
    const seen = await poll(task);
    const done = seen.at(-1);
    assert.equal(done?.status, 'completed', JSON.stringify(done));
    assert.equal(done?.result?.isError, undefined);
    assert.deepEqual(
      done?.result?.structuredContent?.columns.map((c) => c.name),
      ['event', 'n'],
    );
    assert.equal(done?.result?.structuredContent?.row_count, 2);
    // The task is the job: the plain tool sees the same one.
    assert.equal((await view(task.taskId)).job.state, 'succeeded');
  });

  it('completes a task whose answer page cannot be sent with the call’s own error, on every poll', async () => {
    // The job writes the 2 MB value to its file; the page the call asked for cannot hold it (1 MiB per answer).
    const task = await startTask("SELECT repeat('x', 2000000) AS big");
    const done = (await poll(task)).at(-1);
    assert.equal(done?.status, 'completed', JSON.stringify(done));
    assert.equal(done?.result?.isError, true);
    assert.match(JSON.stringify(done?.result), /row_too_large/);
    const again = await getTask(task.taskId);
    assert.equal(again.status, 'completed');
    assert.equal(again.result?.isError, true);
  });

  it('answers a failed task for a job whose error code this version does not know', async () => {
    const task = await startTask(FAST_SQL, 1);
    await poll(task);
    await app.database.db
      .updateTable('query_jobs')
      .set({ state: 'failed', result_id: null, error_code: 'a_code_of_another_version', error: 'It failed elsewhere.' })
      .where('id', '=', task.taskId)
      .execute();
    const failed = await getTask(task.taskId);
    assert.equal(failed.status, 'failed', JSON.stringify(failed));
  });

  it('refuses export on a call that runs as a task, saying how to export, and starts no job', async () => {
    const jobsBefore = await app.database.db
      .selectFrom('query_jobs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const result = await modern.callTool({ name: 'query_lakehouse', arguments: { sql: FAST_SQL, connection: 'sample', export: 'csv' } });
    assert.equal(result.isError, true);
    assert.match(JSON.stringify(result.content), /Call without the tasks extension to export/);
    const jobsAfter = await app.database.db
      .selectFrom('query_jobs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    assert.equal(Number(jobsAfter.n), Number(jobsBefore.n));
  });

  it('cancels a running task with tasks/cancel, and refuses unknown ones', async () => {
    const task = await startTask(SLOW_SQL);
    await eventually(async () => (await view(task.taskId)).job.state === 'running', 30_000, 'the task to run');
    const ack = await modern.request({ method: 'tasks/cancel', params: { taskId: task.taskId } }, anyResult<Record<string, unknown>>());
    assert.deepEqual(
      Object.keys(ack).filter((k) => k !== '_meta'),
      [],
    );
    const seen = await poll(task);
    assert.equal(seen.at(-1)?.status, 'cancelled');

    await assert.rejects(getTask('00000000-0000-4000-8000-000000000000'), /No query job/);
  });

  it('runs the call synchronously for a client that does not declare the extension', async () => {
    const plain = await call(client, 'query_lakehouse', { sql: FAST_SQL, connection: 'sample', limit: 1 });
    assert.equal(plain.row_count, 1);
  });
});

describe('a job whose server stops while it runs', () => {
  it('goes back to the queue, unless that was its last attempt: then it fails and frees its place', async () => {
    const own = await startTestApp({ JOB_CONCURRENCY_PER_ENV: '1', TASK_TICK_MS: '200' });
    const ownClient = await connectClient(`${own.url}/v1`, await serviceToken(own, 'acme/production', ['read']));
    const row = async (id: string) =>
      await own.database.db.selectFrom('query_jobs').select(['state', 'error']).where('id', '=', id).executeTakeFirstOrThrow();
    const runningOn = (id: string) => eventually(async () => (await row(id)).state === 'running', 30_000, `job ${id} to run`);
    try {
      const first = await call(ownClient, 'start_query_job', { sql: SLOW_SQL, connection: 'sample' });
      await runningOn(first.id);
      // The next one waits for the lane; its earlier attempts as if a stopped process had run it before.
      const last = await call(ownClient, 'start_query_job', { sql: SLOW_SQL, connection: 'sample' });
      await own.database.db
        .updateTable('query_jobs')
        .set({ attempts: JOB_MAX_ATTEMPTS - 1 })
        .where('id', '=', last.id)
        .execute();
      await call(ownClient, 'cancel_query_job', { id: first.id });
      await runningOn(last.id);
      await ownClient.close();
      await own.server.close();
      const ended = await row(last.id);
      assert.equal(ended.state, 'failed', 'not left queued, holding a place of its environment');
      assert.match(ended.error ?? '', /stopped; start it again/);
    } finally {
      await own.close();
    }
  });

  it('is failed by any process once its last attempt is long past its deadline, kept for RESULT_TTL_HOURS', async () => {
    const own = await startTestApp({ TASK_TICK_MS: '200', RESULT_TTL_HOURS: '2' });
    const ownClient = await connectClient(`${own.url}/v1`, await serviceToken(own, 'acme/production', ['read']));
    const row = async (id: string) =>
      await own.database.db
        .selectFrom('query_jobs')
        .select(['state', 'error', 'finished_at', 'expires_at'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
    try {
      const job = await call(ownClient, 'start_query_job', { sql: SLOW_SQL, connection: 'sample' });
      await eventually(async () => (await row(job.id)).state === 'running', 30_000, 'the job to run');
      // As if a process that died on the job's last attempt had started it a day ago.
      await own.database.db
        .updateTable('query_jobs')
        .set({ attempts: JOB_MAX_ATTEMPTS, started_at: new Date(Date.now() - 86_400_000) })
        .where('id', '=', job.id)
        .execute();
      const ended = await eventually(async () => ((await row(job.id)).state === 'failed' ? await row(job.id) : undefined), 10_000);
      assert.match(ended.error ?? '', /stopped; start it again/);
      const keptHours = ((ended.expires_at?.getTime() ?? 0) - (ended.finished_at?.getTime() ?? 0)) / 3_600_000;
      assert.ok(Math.abs(keptHours - 2) < 0.01, `kept ${keptHours} h, not RESULT_TTL_HOURS`);
    } finally {
      await ownClient.close();
      await own.close();
    }
  });
});
