import { ConfigError } from './config.js';
import { startServer, type RunningServer } from './server.js';

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

  const server = (running.server = await startServer());
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

main().catch((error: unknown) => {
  const message =
    error instanceof ConfigError
      ? `configuration error: ${error.message}`
      : `cannot start: ${error instanceof Error ? error.message : String(error)}`;
  process.stderr.write(`${message}\n`);
  process.exit(1);
});
