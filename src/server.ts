import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { loadConfig, type Config } from './config.js';
import { openDatabase, type OpenDatabase } from './db/database.js';
import { startLakehouse, type Lakehouse } from './lakehouse/index.js';
import { loadSqlParser } from './lakehouse/sql-guard.js';
import { upgradeLegacyTables } from './lakehouse/upgrade.js';
import { createApp } from './http/app.js';
import { FixedWindowLimiter } from './http/rate-limit.js';
import { ClientConnectionLimit } from './http/client-connections.js';
import { writeProblem } from './http/raw-problem.js';
import { BodyRateGuard, slowClientServerOptions } from './http/slow-clients.js';
import { createLogger, flushLogger, type Logger } from './logger.js';
import { createMcpEndpoint } from './mcp/endpoint.js';
import { OAuthServer } from './oauth/oauth-server.js';
import { issuerPathRewrite } from './oauth/routes.js';
import { AuditLog } from './operations/audit.js';
import { startAuditRetention } from './operations/audit-trail.js';
import type { Services } from './operations/context.js';
import { indexDocs } from './operations/docs.js';
import type { ToolRegistry } from './operations/tool-registry.js';
import { koaOperationHandlers, operationHandlers } from './operations/index.js';
import { loadSecretKey } from './secret-key.js';
import { webhookSettings } from './webhooks/settings.js';
import { startWebhookWorker, type WebhookWorker } from './webhooks/worker.js';
import { PACKAGE_ROOT } from './package-paths.js';
import { sweepJobs } from './jobs/jobs.js';
import { runQueryJob } from './jobs/run-job.js';
import { TaskScheduler } from './tasks/scheduler.js';
import { taskSettings } from './tasks/settings.js';

export const DOCS_DIR = path.join(PACKAGE_ROOT, 'docs');

export interface RunningServer {
  config: Config;
  /** The base URL the server answers on (PUBLIC_URL). */
  url: string;
  port: number;
  database: OpenDatabase;
  log: Logger;
  /** The batched audit log of this process (flush() to write what it holds). */
  audit: AuditLog;
  /** The authorization server and token verifier of this process. */
  oauth: OAuthServer;
  close(): Promise<void>;
}

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * The app a server answers with: the routes of the contract, the MCP endpoint and the OAuth server mounted on
 * the Koa app of src/http/app.ts. `tools` replaces the generated tool registry (tests of progress and cancel).
 */
export function createRequestListener({ services, tools }: { services: Services; tools?: ToolRegistry }): http.RequestListener {
  const mcp = createMcpEndpoint({ services, ...(tools ? { tools } : {}) });
  const app = createApp({
    services,
    handlers: { operations: operationHandlers, koa: koaOperationHandlers },
    mcp,
    beforeRoutes: [issuerPathRewrite(services.config)],
  });
  const callback = app.callback();
  return (req, res) => void callback(req, res);
}

/**
 * Binds the port first (so that PORT=0 can resolve PUBLIC_URL), answers 503 until the database is
 * migrated and the docs are indexed, then serves the app.
 */
/** What `npm start` began before this module loaded: its logger and the database on its way up. */
export interface EarlyStart {
  log?: Logger;
  /** As openDatabase() answers it; startServer owns it from then on. */
  database?: Promise<OpenDatabase>;
}

export async function startServer(env: NodeJS.ProcessEnv = process.env, early: EarlyStart = {}): Promise<RunningServer> {
  let config = loadConfig(env);
  const log = early.log ?? createLogger(config.logLevel);
  // Loaded now, while the database is still starting (a warm start waits for it here), rather than after it by
  // the start-up step that needs it: the PostgreSQL guard's WASM parser.
  loadSqlParser().catch(() => undefined); // the lakehouse step reports a failure
  let handler: http.RequestListener = (_req, res) =>
    writeProblem(res, 'starting', 'The server is starting; retry in a moment.', { 'retry-after': '1' });
  // Slow and greedy clients (src/http/slow-clients.ts, src/http/client-connections.ts), also while starting.
  const bodyRate = new BodyRateGuard({ minRate: config.bodyMinRate, graceMs: config.bodyRateGraceMs, log });
  const perClient = new ClientConnectionLimit({ max: config.maxConnectionsPerClient, trustProxy: config.trustProxy, log });
  const server = http.createServer(slowClientServerOptions(config), (req, res) => {
    bodyRate.track(req, res);
    if (perClient.admit(req, res)) handler(req, res);
  });
  perClient.attach(server);
  server.keepAliveTimeout = 65_000;
  const port = await listen(server, config.port, config.host);
  if (config.port === 0) config = loadConfig({ ...env, PORT: String(port) });

  // How long each start-up step took, from the start of this function (LOG_LEVEL=debug): where a slow start goes.
  const startedAt = performance.now();
  const stepMs: Record<string, number> = {};
  const timed = <T>(step: string, promise: Promise<T>): Promise<T> =>
    promise.finally(() => (stepMs[step] = Math.round(performance.now() - startedAt)));
  let database: OpenDatabase | undefined;
  let oauth: OAuthServer | undefined;
  let lakehouse: Lakehouse | undefined;
  let webhooks: WebhookWorker | undefined;
  let tasks: TaskScheduler | undefined;
  let taskPool: pg.Pool | undefined;
  let startQueueLater = false;
  try {
    // SECRET_KEY, or the key generated into DATA_DIR (also with DATABASE_URL: one process works as is; several
    // processes of one deployment must all be given the same SECRET_KEY).
    const secret = loadSecretKey(config);
    const opened = (database = await timed('database', early.database ?? openDatabase(config, log)));
    // One after another: on a warm start each is a query or two, which one connection serves in a millisecond or
    // so. At once, they opened a connection each, some 20 ms of PostgreSQL's CPU apiece (a process and a SCRAM
    // exchange), and a warm start took about 60 ms longer (`npm run bench -- --scenario startup`).
    const started = (lakehouse = await timed('lakehouse', startLakehouse({ config, db: opened.db, secret, log })));
    // An install of an earlier version: its environments' PostgreSQL tables, copied to Parquet and verified once.
    await timed(
      'legacy tables',
      upgradeLegacyTables({
        db: opened.db,
        url: opened.url,
        store: started.store,
        log,
        tempDir: path.join(os.tmpdir(), 'lakehouse-mcp-upgrade'),
      }),
    );
    // Scheduled tasks (src/tasks/scheduler.ts): graphile-worker on its own small pool; safe with several processes.
    const settings = taskSettings(env);
    const pool = (taskPool = new pg.Pool({ connectionString: opened.url, max: settings.workers + 3, connectionTimeoutMillis: 5_000 }));
    pool.on('error', () => undefined);
    tasks = new TaskScheduler({
      db: opened.db,
      pool,
      lakehouse: started,
      log,
      publicUrl: config.publicUrl,
      settings,
      nudgeWebhooks: () => webhooks?.nudge(),
      // Long queries as jobs (src/jobs/) run on the same queue and runner as scheduled tasks.
      runQueryJob: async (payload, stopping) =>
        runQueryJob({ db: opened.db, lakehouse: started, log, resultTtlMs: config.resultTtlMs }, payload, stopping),
      sweepJobs: () => sweepJobs(opened.db, config.resultTtlMs),
    });
    // The queue's runner serves no request: once its schema exists (any earlier start made it), it starts after
    // the server is ready rather than before (loading graphile-worker and opening its pool take a warm start
    // about 0.1 s), and takes jobs a moment later. The first start waits for it, as queueing a job needs the
    // schema; it creates it on its own pool while the docs are indexed, the other long step of a first start.
    startQueueLater = await timed('queue', TaskScheduler.queueExists(opened.db));
    const queueStarting = startQueueLater ? undefined : timed('tasks', tasks.start());
    queueStarting?.catch(() => undefined); // awaited below; stop() waits for it after a failure
    await timed('docs', indexDocs(opened.db, DOCS_DIR, log));
    oauth = new OAuthServer({ config, db: opened.db, log, secret });
    await timed('oauth', oauth.start());
    await queueStarting;
    // The notification outbox (src/webhooks/worker.ts): one worker per process, safe with several processes.
    webhooks = startWebhookWorker({
      db: database.db,
      secretKey: secret,
      allowPrivateNetwork: config.allowPrivateNetwork,
      settings: webhookSettings(env),
      log,
    });
  } catch (error) {
    server.close();
    bodyRate.stop();
    oauth?.close();
    await tasks?.stop();
    await taskPool?.end();
    await webhooks?.stop();
    await lakehouse?.close();
    await database?.close();
    await flushLogger(log);
    throw error;
  }
  const db = database.db;
  const audit = new AuditLog(db, log);
  const worker = webhooks;
  const services: Services = {
    config,
    db,
    log,
    ping: async () => {
      await sql`SELECT 1`.execute(db);
    },
    lakehouse,
    limiters: { toolCalls: new FixedWindowLimiter(config.toolCallLimit) },
    webhooks: { nudge: () => worker.nudge() },
    oauth,
    audit,
  };
  log.debug({ stepMs, readyMs: Math.round(performance.now() - startedAt) }, 'start-up steps');
  const auditRetention = startAuditRetention(db, config.auditRetentionDays, log);
  // Expired result files (exports, job results): every process sweeps; rows are claimed with SKIP LOCKED.
  const resultSweep = lakehouse.results.startSweeping(log);
  handler = createRequestListener({ services });
  // After the caller's own continuation (npm start prints `ready`): see the tasks step.
  const scheduler = tasks;
  if (startQueueLater) setImmediate(() => scheduler?.startInBackground());

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // In-flight requests get a grace period, then their connections are cut.
        setTimeout(() => server.closeAllConnections(), 5_000).unref();
      });
      bodyRate.stop();
      oauth.close();
      await tasks?.stop();
      await taskPool?.end();
      await webhooks?.stop();
      auditRetention.stop();
      resultSweep.stop();
      await audit.close();
      await lakehouse?.close();
      await database.close();
      await flushLogger(log);
    })());
  return { config, url: config.publicUrl, port, database, log, audit, oauth, close };
}
