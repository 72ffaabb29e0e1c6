import http from 'node:http';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { runRawPg, type RawPgJob } from './baselines/raw-pg.js';
import { summarize, type LoadResult } from './lib/stats.js';

// The load generator: a separate process (pinned to its own core by bench/run.ts) that takes jobs over IPC
// and answers their figures. Throughput runs use autocannon; latency runs of a few connections use a
// plain keep-alive loop (autocannon's histogram has 1 ms resolution, too coarse for scenario 2), and so do
// refresh-token chains (each request depends on the previous answer, which autocannon's requests cannot carry:
// it resets their context after every request).

export interface HttpJob {
  url: string;
  method?: 'POST' | 'GET';
  headers: Record<string, string>;
  body?: string;
  connections: number;
  durationMs: number;
}

export type Job =
  | ({ kind: 'autocannon' } & HttpJob)
  | ({ kind: 'loop' } & HttpJob)
  | ({ kind: 'refresh'; clientId: string; refreshTokens: string[] } & Omit<HttpJob, 'body'>)
  | ({ kind: 'pg' } & RawPgJob);

export type JobAnswer = { ok: true; result: LoadResult & { refreshTokens?: string[] } } | { ok: false; error: string };

function fromAutocannon(result: autocannon.Result): LoadResult {
  const errors = result.errors + result.timeouts + result.non2xx;
  const ok = result.requests.total - result.non2xx;
  return {
    rps: ok / Math.max(result.duration, 0.001),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors,
    requests: result.requests.total,
  };
}

async function runAutocannon(job: HttpJob): Promise<autocannon.Result> {
  return autocannon({
    url: job.url,
    method: job.method ?? 'POST',
    headers: job.headers,
    ...(job.body === undefined ? {} : { body: job.body }),
    connections: job.connections,
    duration: job.durationMs / 1000,
    pipelining: 1,
  });
}

/**
 * `connections` keep-alive callers, each sending requests back to back; latencies with sub-ms precision.
 * `next(worker)` gives a worker's next body (undefined: that worker stops); `answered` sees each answer.
 */
async function runLoop(
  job: HttpJob,
  next: (worker: number) => string | undefined = () => job.body ?? '',
  answered: (worker: number, status: number, body: string) => void = () => undefined,
  warmUp = true,
): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: job.connections });
  const url = new URL(job.url);
  const send = (body: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const request = http.request(
        { agent, host: url.hostname, port: url.port, path: url.pathname, method: job.method ?? 'POST', headers: job.headers },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  // One warm-up request per connection (opens the sockets).
  if (warmUp) await Promise.all(Array.from({ length: job.connections }, () => send(job.body ?? '').catch(() => undefined)));
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const until = started + job.durationMs;
  await Promise.all(
    Array.from({ length: job.connections }, async (_, worker) => {
      while (performance.now() < until) {
        const body = next(worker);
        if (body === undefined) return;
        const t0 = performance.now();
        const answer = await send(body).catch(() => ({ status: 0, text: '' }));
        if (answer.status === 200) latencies.push(performance.now() - t0);
        else errors += 1;
        answered(worker, answer.status, answer.text);
      }
    }),
  );
  const elapsed = performance.now() - started;
  agent.destroy();
  return summarize(latencies, errors, elapsed);
}

/**
 * Token rotation chains: each connection sends its current refresh token and keeps the one it gets back
 * (a refresh token is single-use; presenting one twice would revoke its grant). Answers the unused tokens.
 */
async function runRefresh(job: Extract<Job, { kind: 'refresh' }>): Promise<LoadResult & { refreshTokens: string[] }> {
  const current: (string | undefined)[] = job.refreshTokens.slice(0, job.connections);
  const result = await runLoop(
    { ...job },
    (worker) => {
      const token = current[worker];
      current[worker] = undefined;
      return token === undefined
        ? undefined
        : new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token, client_id: job.clientId }).toString();
    },
    (worker, status, text) => {
      if (status === 200) current[worker] = (JSON.parse(text) as { refresh_token: string }).refresh_token;
    },
    false,
  );
  return {
    ...result,
    refreshTokens: [...current.filter((t): t is string => t !== undefined), ...job.refreshTokens.slice(job.connections)],
  };
}

async function run(job: Job): Promise<LoadResult & { refreshTokens?: string[] }> {
  switch (job.kind) {
    case 'autocannon':
      return fromAutocannon(await runAutocannon(job));
    case 'loop':
      return runLoop(job);
    case 'refresh':
      return runRefresh(job);
    case 'pg':
      return runRawPg(job);
  }
}

process.on('message', (job: Job) => {
  run(job).then(
    (result) => process.send?.({ ok: true, result } satisfies JobAnswer),
    (error: unknown) =>
      process.send?.({ ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies JobAnswer),
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.('ready');
