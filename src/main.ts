import { ConfigError, loadConfig } from './config.js';
import { startEmbeddedPostgres } from './db/embedded-postgres.js';
import { isEntryPoint } from './entry-point.js';
import { createLogger } from './logger.js';
import type { RunningServer } from './server.js';

/**
 * `npm start`: the server, until SIGINT or SIGTERM; then a clean stop of the HTTP server and the embedded
 * database. A signal during start-up stops the server as soon as start-up ends, so no PostgreSQL is orphaned.
 */
async function main(): Promise<void> {
  const started = Date.now();
  const running: { server?: RunningServer } = {};
  let stopRequested: string | undefined;
  const stop = (signal: string) => {
    if (stopRequested) return;
    stopRequested = signal;
    const { server } = running;
    if (!server) return; // start-up is still running; main() stops once it ends
    server.log.info({ signal }, 'stopping');
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        server.log.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  // Most of a warm start is loading the server's modules (CPU in this process) and starting the embedded
  // PostgreSQL (another process): both at once. Loading modules blocks this process's event loop, which the
  // cluster's own start-up steps (finding its user, spawning it) need: the modules load once it is spawned.
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  let starting: () => void = () => undefined;
  const postgresStarting = new Promise<void>((resolve) => (starting = resolve));
  let accepting: (url: string) => void = () => undefined;
  const acceptingUrl = new Promise<string>((resolve) => (accepting = resolve));
  const embedded = config.databaseUrl
    ? undefined
    : startEmbeddedPostgres({ dataDir: config.dataDir, log, onStarting: () => starting(), onAccepting: (url) => accepting(url) });
  embedded?.then(starting, starting); // failed or attached: nothing to wait for either
  if (embedded) await postgresStarting;
  // The database opens while the server's modules load, and its pool connects as soon as the cluster accepts
  // connections: its round trips, and PostgreSQL's own work for each new connection (on another core), run
  // beside the loading and the cluster's own check rather than after them.
  const database = import('./db/database.js').then(({ openDatabase }) =>
    openDatabase(config, log, embedded ? { started: embedded, accepting: acceptingUrl } : {}),
  );
  database.catch(() => undefined); // startServer reports it
  let server: RunningServer;
  try {
    const { startServer } = await import('./server.js');
    server = running.server = await startServer(process.env, { log, database });
  } catch (error) {
    // Failed before the server took the database over (a port in use, say): stop the cluster rather than orphan
    // it. A database that failed to open has stopped it already.
    await database.then(
      (opened) => opened.close(),
      () => embedded?.then((cluster) => cluster.stop()).catch(() => undefined),
    );
    throw error;
  }
  if (stopRequested) {
    const signal = stopRequested;
    stopRequested = undefined;
    stop(signal);
    return;
  }
  const { publicUrl } = server.config;
  process.stdout.write(
    [
      `lakehouse-mcp listening on ${server.config.host}:${server.port} (started in ${((Date.now() - started) / 1000).toFixed(1)} s)`,
      `  MCP endpoint:   ${publicUrl}/v1`,
      `  Sign-in:        ${server.config.issuerUrl}/oauth/authorize (MCP clients open it for their user)`,
      `  API contract:   ${publicUrl}/openapi.json`,
      `  Create a user:  npm run admin -- user create you@example.com --password '<12+ characters>'`,
      `ready ${publicUrl}`,
      '',
    ].join('\n'),
  );
}

/** Runs main() to its end or exits with one line saying why it cannot start. */
export function run(): void {
  main().catch((error: unknown) => {
    const message =
      error instanceof ConfigError
        ? `configuration error: ${error.message}`
        : `cannot start: ${error instanceof Error ? error.message : String(error)}`;
    process.stderr.write(`${message}\n`);
    process.exit(1);
  });
}

if (isEntryPoint(import.meta.url)) run();
