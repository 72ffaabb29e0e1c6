import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { APP_DATABASE, createDb, withDatabase } from '../src/db/database.js';
import { createEnvironment, createOrganization } from '../src/db/directory.js';
import { removeEmbeddedCluster, startEmbeddedPostgres, type EmbeddedPostgres } from '../src/db/embedded-postgres.js';
import { createServiceAccount } from '../src/oauth/admin.js';
import { ActivityMonitor, SERVER_APP_NAME, type Activity } from './lib/db-activity.js';
import { clientCredentialsToken } from './lib/oauth-flow.js';
import { memoryOf, startProcess, type Started } from './lib/processes.js';
import { percentile } from './lib/stats.js';

// `npm run soak [-- --duration 120s] [--clients 100] [--environments 4] [--warmup 15s] [--sql-concurrency 8]
//                 [--database-url URL] [--out FILE]`
//
// Issue 9's soak: N concurrent MCP clients (the SDK's Client over streamable HTTP, each with its own service
// account's real token, read + write) call a mix of tools against our server, run as its own process as
// `npm start` runs it, for a bounded time on loopback. Not part of `npm test`.
//
// The database: DATABASE_URL (or --database-url) if given; otherwise an embedded PostgreSQL in a temp
// DATA_DIR that THIS process starts and the server attaches to (a server that attaches does not stop the
// cluster), so that the database outlives the server and its connections can be counted after it stops.
// The first start of the server generates the sample data (~1M rows).
//
// Exit 1 on:
// - any error. The one refusal the server is designed to give under this load, `busy` (more than SQL_CONCURRENCY
//   statements at once in the environment: query_lakehouse, get_connection, create_insight), is retried after its
//   Retry-After (with jitter) as an agent would, for up to BUSY_PATIENCE_MS, and reported; a call still refused
//   after that fails;
// - server RSS growing more than 20% between the end of the warm-up and the end of the run (each the median
//   of the samples of its last 10 seconds, so that one GC cycle does not decide);
// - database connections left open. The server's pools are bounded: the main pool (max 10, idle connections
//   closed after 10 s) and the SQL sandbox pool (max SQL_CONCURRENCY, idle ones evicted after 60 s). So:
//   (a) during the run, never more than 10 + min(40, environments × SQL_CONCURRENCY) server connections;
//   (b) within 5 s after the clients close, none of them is inside a statement or a transaction;
//   (c) within 15 s, the main pool is back to its idle size: at most MAIN_IDLE_MAX connections (the audit
//       flush and the webhook outbox poll keep working in the background), the sandbox at most its cap;
//   (d) within 5 s after the server process stops (SIGTERM), no connection of it remains.

const ROOT = path.resolve(import.meta.dirname, '..');
const SECRET_KEY = Buffer.alloc(32, 5).toString('base64');
const MAIN_POOL_MAX = 10;
const MAIN_IDLE_MAX = 2;
const RSS_GROWTH_MAX = 0.2;
/** How long a call keeps retrying `busy` refusals: query_lakehouse's default statement timeout (15 s). */
const BUSY_PATIENCE_MS = 15_000;
/** The sandbox's cap on its connections over all pools (src/lakehouse/sandbox.ts maxConnections). */
const SANDBOX_MAX = 40;
const SAMPLE_MS = 3000;
const CALL_TIMEOUT_MS = 30_000;

function duration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) throw new Error(`not a duration: ${text} (e.g. 120s, 2m, 500ms)`);
  const n = Number(match[1]);
  return match[2] === 'ms' ? n : match[2] === 'm' ? n * 60_000 : n * 1000;
}

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '120s' },
    clients: { type: 'string', default: '100' },
    environments: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '15s' },
    'sql-concurrency': { type: 'string', default: '8' },
    'database-url': { type: 'string' },
    out: { type: 'string' },
  },
});
const DURATION_MS = duration(args.duration ?? '120s');
const WARMUP_MS = duration(args.warmup ?? '15s');
const CLIENTS = Number(args.clients ?? '100');
const SQL_CONCURRENCY = Number(args['sql-concurrency'] ?? '8');
const ENVIRONMENTS = Number(args.environments ?? '4');
/** Sandbox connections the server may hold: one pool per environment (connection `sample`), under its overall cap. */
const SANDBOX_CAP = Math.min(SANDBOX_MAX, ENVIRONMENTS * SQL_CONCURRENCY);
const DATABASE_URL = args['database-url'] ?? process.env.DATABASE_URL;
if (!Number.isInteger(CLIENTS) || CLIENTS < 1) throw new Error('--clients must be a positive integer');
if (!Number.isInteger(ENVIRONMENTS) || ENVIRONMENTS < 1 || ENVIRONMENTS > CLIENTS)
  throw new Error('--environments must be an integer from 1 to --clients');
if (WARMUP_MS >= DURATION_MS) throw new Error('--warmup must be shorter than --duration');

const say = (line: string) => process.stderr.write(`${line}\n`);
const round1 = (n: number) => Math.round(n * 10) / 10;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lakehouse-soak-'));
const logFile = path.join(work, 'server.log');

// ---- the mix ---------------------------------------------------------------------------------------------

interface Call {
  /** The name figures are reported under (a tool, or a tool and a variant). */
  label: string;
  tool: string;
  arguments: Record<string, unknown>;
  /** Throws when a successful answer is not what it should be. */
  check?: (out: Record<string, unknown>) => void;
}

const rand = (n: number) => Math.floor(Math.random() * n);
const pick = <T>(items: readonly T[]): T => items[rand(items.length)] as T;
const WORDS = ['revenue', 'churn', 'signup', 'funnel', 'checkout', 'mobile', 'enterprise', 'retention', 'onboarding', 'export'];
const DOC_QUERIES = ['semantic model', 'query_lakehouse', 'oauth', 'dashboard widgets', 'webhook signature', 'rate limit', 'insight chart'];

function expect(condition: unknown, message: string): asserts condition {
  if (!condition) throw new CheckError(message);
}
class CheckError extends Error {}

/** Weighted: reads dominate, as with agents exploring; a write every ~8 calls. */
const MIX: [number, (client: number, n: number) => Call][] = [
  [
    10,
    () => ({
      label: 'get_session_context',
      tool: 'get_session_context',
      arguments: {},
      check: (o) => expect(o.environment, 'no environment'),
    }),
  ],
  [
    6,
    () => ({
      label: 'list_connections',
      tool: 'list_connections',
      arguments: {},
      check: (o) => expect(Array.isArray(o.items) && o.items.length >= 2, 'fewer than 2 connections'),
    }),
  ],
  [5, () => ({ label: 'get_connection', tool: 'get_connection', arguments: { name: 'sample' } })],
  [
    18,
    () => {
      const id = 1 + rand(20_000);
      return {
        label: 'query_lakehouse point',
        tool: 'query_lakehouse',
        arguments: { sql: `SELECT * FROM users WHERE user_id = ${id}`, connection: 'sample' },
        check: (o) => expect(o.row_count === 1, `user ${id}: ${String(o.row_count)} rows`),
      };
    },
  ],
  [
    10,
    () => {
      const hours = rand(2000);
      const sql =
        rand(2) === 0
          ? `SELECT plan, country, count(*) AS users FROM users GROUP BY plan, country ORDER BY users DESC`
          : `SELECT event, count(*) AS n FROM events WHERE occurred_at >= (SELECT max(occurred_at) FROM events) - interval '${hours + 1} hours' AND occurred_at < (SELECT max(occurred_at) FROM events) - interval '${hours} hours' GROUP BY event ORDER BY n DESC`;
      return {
        label: 'query_lakehouse aggregate',
        tool: 'query_lakehouse',
        arguments: { sql, connection: 'sample' },
        check: (o) => expect(typeof o.row_count === 'number', 'no row_count'),
      };
    },
  ],
  [
    8,
    () => ({
      label: 'search_docs',
      tool: 'search_docs',
      arguments: { query: pick(DOC_QUERIES) },
      check: (o) => expect(Array.isArray(o.items), 'no items'),
    }),
  ],
  [
    4,
    (client, n) => ({
      label: 'create_memory',
      tool: 'create_memory',
      arguments: {
        content: `Client ${client} noted ${pick(WORDS)} and ${pick(WORDS)} (call ${n}).`,
        type: pick(['episodic', 'semantic', 'procedural']),
        importance: Math.round(Math.random() * 100) / 100,
        tags: [pick(WORDS)],
      },
      check: (o) => expect(typeof o.id === 'string', 'no id'),
    }),
  ],
  [
    7,
    () => ({
      label: 'search_memories',
      tool: 'search_memories',
      arguments: { query: pick(WORDS), limit: 10 },
      check: (o) => expect(Array.isArray(o.items), 'no items'),
    }),
  ],
  [
    3,
    (client, n) => ({
      label: 'create_insight',
      tool: 'create_insight',
      arguments: {
        title: `Soak ${client}.${n}: users by plan`,
        sql: 'SELECT plan, count(*) AS users FROM users GROUP BY plan',
        connection: 'sample',
        chart: { kind: 'bar', x: 'plan', y: 'users' },
        idempotency_key: `soak-${process.pid}-${client}-${n}`,
      },
      check: (o) => expect(typeof o.id === 'string', 'no id'),
    }),
  ],
  [
    7,
    () => ({
      label: 'list_insights',
      tool: 'list_insights',
      arguments: { limit: 20 },
      check: (o) => expect(Array.isArray(o.items), 'no items'),
    }),
  ],
  [
    2,
    (client, n) => ({
      label: 'create_notification',
      tool: 'create_notification',
      arguments: {
        title: `Soak ${client}.${n}`,
        body: `A notification from soak client ${client}.`,
        severity: pick(['info', 'warning', 'critical']),
      },
      check: (o) => expect(typeof o.id === 'string', 'no id'),
    }),
  ],
];
const TOTAL_WEIGHT = MIX.reduce((n, [w]) => n + w, 0);

function nextCall(client: number, n: number): Call {
  let r = Math.random() * TOTAL_WEIGHT;
  for (const [weight, make] of MIX) {
    r -= weight;
    if (r < 0) return make(client, n);
  }
  return (MIX[0] as (typeof MIX)[number])[1](client, n);
}

// ---- figures ---------------------------------------------------------------------------------------------

interface ToolFigures {
  calls: number;
  errors: number;
  latencies: number[];
}
interface Phase {
  tools: Map<string, ToolFigures>;
  errors: Map<string, number>;
  /** Unexpected errors: a few messages, for the report. */
  examples: string[];
}
const newPhase = (): Phase => ({ tools: new Map(), errors: new Map(), examples: [] });
const phases = { warmup: newPhase(), run: newPhase() };
let phase: Phase = phases.warmup;
const EXPECTED = new Set<string>();
/** `busy` refusals that were retried (expected backpressure), by call label, over the whole run. */
const busyRefusals = new Map<string, number>();

function record(label: string, ms: number, error?: { kind: string; message: string }): void {
  const figures = phase.tools.get(label) ?? { calls: 0, errors: 0, latencies: [] };
  phase.tools.set(label, figures);
  figures.calls++;
  if (!error) {
    figures.latencies.push(ms);
    return;
  }
  figures.errors++;
  const kind = `${error.kind}`;
  phase.errors.set(kind, (phase.errors.get(kind) ?? 0) + 1);
  if (!EXPECTED.has(kind) && phase.examples.length < 10) phase.examples.push(`${label}: ${kind}: ${error.message.slice(0, 300)}`);
}

function classify(error: unknown): { kind: string; message: string } {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof CheckError) return { kind: 'check', message };
  if (error instanceof McpError) return { kind: error.code === -32001 ? 'timeout' : `jsonrpc:${error.code}`, message };
  if (error instanceof Error && error.name === 'StreamableHTTPError') return { kind: 'http', message };
  return { kind: 'transport', message };
}

// ---- the run ---------------------------------------------------------------------------------------------

let server: Started | undefined;
let embedded: EmbeddedPostgres | undefined;
let monitor: ActivityMonitor | undefined;

async function cleanup(): Promise<void> {
  await monitor?.close();
  await server?.stop();
  await embedded?.stop();
  if (embedded) await removeEmbeddedCluster(path.join(work, 'data')).catch(() => undefined);
  fs.rmSync(work, { recursive: true, force: true });
}

function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of [
    'PORT',
    'HOST',
    'PUBLIC_URL',
    'ISSUER_URL',
    'DATABASE_URL',
    'DATA_DIR',
    'NODE_OPTIONS',
    'TEST_PG_URL',
    'TEST_TEMPLATE_DB',
  ])
    delete env[name];
  return {
    ...env,
    PORT: '0',
    SECRET_KEY,
    LOG_LEVEL: 'warn',
    TOOL_CALL_LIMIT: '0',
    SQL_CONCURRENCY: String(SQL_CONCURRENCY),
    // Names the main pool's connections in pg_stat_activity (node-pg reads PGAPPNAME).
    PGAPPNAME: SERVER_APP_NAME,
    ...(DATABASE_URL ? { DATABASE_URL } : { DATA_DIR: path.join(work, 'data') }),
  };
}

interface Sample {
  atS: number;
  phase: 'warmup' | 'run' | 'after';
  rssMiB: number;
  db: Activity;
}

async function main(): Promise<number> {
  const t0 = performance.now();
  say(
    `soak: ${CLIENTS} clients in ${ENVIRONMENTS} environments, ${DURATION_MS / 1000} s (warm-up ${WARMUP_MS / 1000} s), SQL_CONCURRENCY ${SQL_CONCURRENCY}, ${os.availableParallelism()} cores, load average ${os.loadavg().map(round1).join(' ')}`,
  );

  let appDbUrl: string;
  if (DATABASE_URL) {
    appDbUrl = DATABASE_URL;
  } else {
    const dataDir = path.join(work, 'data');
    fs.mkdirSync(dataDir, { mode: 0o755 });
    // Others can enter: a root run makes the cluster's own user run postgres in place.
    fs.chmodSync(work, 0o755);
    embedded = await startEmbeddedPostgres({ dataDir, durable: false, log: { info: () => undefined, debug: () => undefined, warn: say } });
    appDbUrl = withDatabase(embedded.url, APP_DATABASE);
  }

  say(`starting the server (${DATABASE_URL ? 'DATABASE_URL' : `embedded PostgreSQL in ${work}`}); a first start generates the sample data`);
  server = await startProcess(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: serverEnv(),
    cwd: ROOT,
    logFile,
    timeoutMs: 300_000,
  });
  const baseUrl = server.ready;
  say(`server pid ${server.pid} ready at ${baseUrl} in ${round1(server.readyMs / 1000)} s`);

  // One organization with ENVIRONMENTS environments (clients spread round-robin, as teams of agents), one
  // service account (read + write) per client.
  const db = createDb(appDbUrl);
  const accounts: { client_id: string; client_secret: string }[] = [];
  try {
    const organization = `soak${process.pid}`;
    await createOrganization(db, organization);
    for (let e = 0; e < ENVIRONMENTS; e++) await createEnvironment(db, { organization, environment: `env${e}` });
    for (let i = 0; i < CLIENTS; i++)
      accounts.push(
        await createServiceAccount(db, { organization, environment: `env${i % ENVIRONMENTS}` }, `soak client ${i}`, ['read', 'write']),
      );
  } finally {
    await db.destroy();
  }
  const tokens: string[] = [];
  for (let i = 0; i < accounts.length; i += 10) {
    tokens.push(
      ...(await Promise.all(accounts.slice(i, i + 10).map((a) => clientCredentialsToken(baseUrl, a.client_id, a.client_secret)))),
    );
  }
  monitor = await ActivityMonitor.open(appDbUrl);
  const serverPid = server.pid;

  // Samples of RSS and connections every SAMPLE_MS.
  const samples: Sample[] = [];
  const runStart = performance.now();
  let samplePhase: Sample['phase'] = 'warmup';
  const sampleNow = async () => {
    const rss = memoryOf(serverPid)?.rssMiB ?? NaN;
    const activity = await monitor?.sample();
    if (activity)
      samples.push({ atS: round1((performance.now() - runStart) / 1000), phase: samplePhase, rssMiB: round1(rss), db: activity });
  };
  const sampler = setInterval(() => void sampleNow().catch(() => undefined), SAMPLE_MS);

  // The clients: connect (initialize + tools/list, as an agent does), then call until the deadline.
  const clients: Client[] = [];
  // The clock of the run starts once every client is connected (tools/list compiles output validators in
  // each SDK client: seconds of this process's CPU on a small machine).
  let connected = 0;
  let markConnected: () => void = () => undefined;
  const allConnected = new Promise<void>((resolve) => (markConnected = resolve));
  const connectedOne = () => {
    if (++connected === tokens.length) markConnected();
  };
  let deadline = Infinity;
  const connectErrors: string[] = [];
  const loops = tokens.map(async (token, index) => {
    // Spread the connects over the first seconds, as agents arriving.
    await new Promise((resolve) => setTimeout(resolve, (index * 2000) / tokens.length));
    const client = new Client({ name: `soak-${index}`, version: '1.0.0' });
    try {
      await client.connect(
        new StreamableHTTPClientTransport(new URL(`${baseUrl}/v1`), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }),
        { timeout: CALL_TIMEOUT_MS },
      );
      await client.listTools(undefined, { timeout: CALL_TIMEOUT_MS });
    } catch (error) {
      connectErrors.push(`client ${index}: ${error instanceof Error ? error.message : String(error)}`);
      connectedOne();
      return;
    }
    clients.push(client);
    connectedOne();
    await allConnected;
    for (let n = 0; performance.now() < deadline; n++) {
      const call = nextCall(index, n);
      const t = performance.now();
      try {
        // A `busy` refusal is retried after the time the server names, as a well-behaved agent does; the
        // latency recorded is the whole call's, retries included.
        for (;;) {
          const result = await client.callTool({ name: call.tool, arguments: call.arguments }, undefined, { timeout: CALL_TIMEOUT_MS });
          if (!result.isError) {
            call.check?.((result.structuredContent ?? {}) as Record<string, unknown>);
            record(call.label, performance.now() - t);
            break;
          }
          const meta = (result._meta as { 'lakehouse-mcp/error'?: { code?: string; retry_after?: number } } | undefined)?.[
            'lakehouse-mcp/error'
          ];
          const text = (result.content as { text?: string }[] | undefined)?.[0]?.text ?? '';
          if (meta?.code === 'busy' && performance.now() - t < BUSY_PATIENCE_MS) {
            busyRefusals.set(call.label, (busyRefusals.get(call.label) ?? 0) + 1);
            // With jitter (0.5–1.5 × Retry-After): refused clients must not all come back in the same instant.
            await new Promise((resolve) => setTimeout(resolve, Math.min(1000, (meta.retry_after ?? 0.1) * 1000) * (0.5 + Math.random())));
            continue;
          }
          record(call.label, performance.now() - t, {
            kind: meta?.code === 'busy' ? 'tool:busy after retries' : `tool:${meta?.code ?? 'unknown'}`,
            message: text,
          });
          break;
        }
      } catch (error) {
        record(call.label, performance.now() - t, classify(error));
      }
    }
  });
  await allConnected;
  const clockStart = performance.now();
  deadline = clockStart + DURATION_MS;
  say(`${clients.length} clients connected in ${round1((clockStart - runStart) / 1000)} s`);
  const warmupTimer = setTimeout(() => {
    phase = phases.run;
    samplePhase = 'run';
    say(`warm-up over (${WARMUP_MS / 1000} s): measuring`);
  }, WARMUP_MS);
  const progress = setInterval(() => {
    const calls = [...phase.tools.values()].reduce((n, f) => n + f.calls, 0);
    const last = samples.at(-1);
    say(
      `  ${Math.round((performance.now() - runStart) / 1000)} s: ${calls} calls this phase, RSS ${last?.rssMiB ?? '-'} MiB, server connections ${last ? last.db.main + last.db.sandbox : '-'}`,
    );
  }, 15_000);
  await Promise.all(loops);
  clearTimeout(warmupTimer);
  clearInterval(progress);
  clearInterval(sampler);
  await sampleNow();
  const runMs = performance.now() - clockStart;

  // Connections after the clients close.
  samplePhase = 'after';
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  const closedAt = performance.now();
  const settled = await monitor.until((a) => a.busy === 0, 5000);
  const idle = await monitor.until((a) => a.busy === 0 && a.main <= MAIN_IDLE_MAX && a.sandbox <= SANDBOX_CAP, 15_000);
  const afterClients = { ...idle.activity, settledMs: Math.round(settled.ms), idleMs: Math.round(performance.now() - closedAt) };
  const rssAfter = memoryOf(serverPid)?.rssMiB ?? NaN;
  await server.stop();
  server = undefined;
  const gone = await monitor.until((a) => a.main + a.sandbox === 0, 5000);

  // Figures.
  const tools = [...phases.run.tools.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([label, f]) => {
      const sorted = f.latencies.sort((a, b) => a - b);
      return {
        tool: label,
        calls: f.calls,
        errors: f.errors,
        p50Ms: round1(percentile(sorted, 50)),
        p99Ms: round1(percentile(sorted, 99)),
      };
    });
  const requests = tools.reduce((n, t) => n + t.calls, 0);
  const errorsByKind = (p: Phase) => Object.fromEntries([...p.errors.entries()].sort());
  const allErrors = new Map<string, number>();
  for (const p of [phases.warmup, phases.run]) for (const [k, n] of p.errors) allErrors.set(k, (allErrors.get(k) ?? 0) + n);
  const unexpected = [...allErrors.entries()].filter(([k]) => !EXPECTED.has(k)).reduce((n, [, c]) => n + c, 0) + connectErrors.length;
  const busy = Object.fromEntries([...busyRefusals.entries()].sort());

  const medianOf = (values: number[]) => {
    const s = values.filter(Number.isFinite).sort((a, b) => a - b);
    return s.length ? (s[Math.floor((s.length - 1) / 2)] ?? NaN) : NaN;
  };
  const warmEndS = (clockStart - runStart + WARMUP_MS) / 1000;
  const runEndS = Math.max(...samples.filter((s) => s.phase === 'run').map((s) => s.atS));
  const rssWarm = medianOf(samples.filter((s) => s.atS > warmEndS - 10 && s.atS <= warmEndS + SAMPLE_MS / 1000).map((s) => s.rssMiB));
  const rssEnd = medianOf(samples.filter((s) => s.phase === 'run' && s.atS > runEndS - 10).map((s) => s.rssMiB));
  const growth = (rssEnd - rssWarm) / rssWarm;
  const during = samples.filter((s) => s.phase !== 'after');
  const maxServerConnections = Math.max(...during.map((s) => s.db.main + s.db.sandbox));
  const connectionCap = MAIN_POOL_MAX + SANDBOX_CAP;

  const checks = [
    { what: 'unexpected errors', value: unexpected, pass: unexpected === 0, rule: '0' },
    {
      what: 'RSS growth warm-up end → run end (%)',
      value: round1(growth * 100),
      pass: Number.isFinite(growth) && growth <= RSS_GROWTH_MAX,
      rule: `<= ${RSS_GROWTH_MAX * 100}%`,
    },
    {
      what: 'max server connections during the run',
      value: maxServerConnections,
      pass: maxServerConnections <= connectionCap,
      rule: `<= ${connectionCap} (main ${MAIN_POOL_MAX} + sandbox ${SANDBOX_CAP})`,
    },
    { what: 'ms until no connection is busy after the clients close', value: afterClients.settledMs, pass: settled.met, rule: '<= 5000' },
    {
      what: 'ms until the pools are back to idle size',
      value: afterClients.idleMs,
      pass: idle.met,
      rule: `<= 15000 (main <= ${MAIN_IDLE_MAX}, sandbox <= ${SANDBOX_CAP}, none busy; was main ${idle.activity.main}, sandbox ${idle.activity.sandbox}, busy ${idle.activity.busy})`,
    },
    {
      what: 'server connections 5 s after the server stopped',
      value: gone.activity.main + gone.activity.sandbox,
      pass: gone.met,
      rule: '0',
    },
  ];

  const results = {
    date: new Date().toISOString(),
    machine: { cores: os.availableParallelism(), node: process.version, loadavgAfter: os.loadavg().map(round1) },
    plan: {
      clients: CLIENTS,
      environments: ENVIRONMENTS,
      durationMs: DURATION_MS,
      warmupMs: WARMUP_MS,
      sqlConcurrency: SQL_CONCURRENCY,
      database: DATABASE_URL ? 'DATABASE_URL' : 'embedded',
    },
    requests,
    requestsPerSecond: round1(requests / ((runMs - WARMUP_MS) / 1000)),
    warmupRequests: [...phases.warmup.tools.values()].reduce((n, f) => n + f.calls, 0),
    errorsByKind: { warmup: errorsByKind(phases.warmup), run: errorsByKind(phases.run), connect: connectErrors.length },
    busyRefusalsRetried: busy,
    unexpectedExamples: [...phases.warmup.examples, ...phases.run.examples, ...connectErrors.slice(0, 5)],
    tools,
    rss: { warmupEndMiB: round1(rssWarm), runEndMiB: round1(rssEnd), afterClientsMiB: round1(rssAfter), growthPct: round1(growth * 100) },
    connections: { maxDuringRun: maxServerConnections, afterClients, afterServerStop: gone.activity },
    samples,
    checks,
    totalSeconds: round1((performance.now() - t0) / 1000),
  };
  if (args.out) fs.writeFileSync(path.resolve(args.out), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(report(results));
  return checks.every((c) => c.pass) ? 0 : 1;
}

function report(r: {
  requests: number;
  requestsPerSecond: number;
  warmupRequests: number;
  errorsByKind: unknown;
  busyRefusalsRetried: Record<string, number>;
  unexpectedExamples: string[];
  tools: { tool: string; calls: number; errors: number; p50Ms: number; p99Ms: number }[];
  rss: Record<string, number>;
  connections: unknown;
  samples: Sample[];
  checks: { what: string; value: number; pass: boolean; rule: string }[];
  machine: { loadavgAfter: number[] };
  totalSeconds: number;
}): string {
  const lines = [
    '',
    `requests (after warm-up): ${r.requests} (${r.requestsPerSecond}/s); warm-up: ${r.warmupRequests}`,
    `errors by kind: ${JSON.stringify(r.errorsByKind)}`,
    `busy refusals, retried after Retry-After (expected backpressure, whole run): ${JSON.stringify(r.busyRefusalsRetried)}`,
    ...r.unexpectedExamples.map((e) => `  unexpected: ${e}`),
    '',
    `${'tool'.padEnd(26)} ${'calls'.padStart(7)} ${'errors'.padStart(7)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`,
    ...r.tools.map(
      (t) =>
        `${t.tool.padEnd(26)} ${String(t.calls).padStart(7)} ${String(t.errors).padStart(7)} ${String(t.p50Ms).padStart(8)} ${String(t.p99Ms).padStart(8)}`,
    ),
    '',
    `server RSS (MiB): ${JSON.stringify(r.rss)}`,
    `RSS / connections over time (s: MiB main+sandbox busy): ${r.samples.map((s) => `${s.atS}:${s.rssMiB} ${s.db.main}+${s.db.sandbox} ${s.db.busy}`).join(' | ')}`,
    `database connections: ${JSON.stringify(r.connections)}`,
    '',
    ...r.checks.map((c) => `  ${c.pass ? 'pass' : 'FAIL'}  ${c.what} = ${c.value} (${c.rule})`),
    `load average after: ${r.machine.loadavgAfter.join(' ')}; total ${r.totalSeconds} s`,
    '',
  ];
  return lines.join('\n');
}

let stopping = false;
const interrupt = (code: number) => {
  if (stopping) return;
  stopping = true;
  void cleanup().finally(() => process.exit(code));
};
process.on('SIGINT', () => interrupt(130));
process.on('SIGTERM', () => interrupt(143));
try {
  process.exitCode = await main();
} catch (error) {
  say(`soak failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n(server log: ${logFile})`);
  process.exitCode = 1;
} finally {
  if (process.exitCode !== 0) {
    try {
      fs.copyFileSync(logFile, path.join(os.tmpdir(), `lakehouse-soak-server-${process.pid}.log`));
      say(`server log kept in ${path.join(os.tmpdir(), `lakehouse-soak-server-${process.pid}.log`)}`);
    } catch {
      // no log
    }
  }
  await cleanup();
}
