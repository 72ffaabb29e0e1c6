import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { resolveBinaries, type Binaries } from './embedded/binaries.js';
import { ensureCluster, existingCluster, locateCluster, superuserPassword } from './embedded/cluster-dir.js';

export { removeCluster as removeEmbeddedCluster } from './embedded/cluster-dir.js';
import { inspectPostmaster, READY_STATUS, removeStalePid } from './embedded/postmaster-pid.js';
import { identity, resolveRunAs, type RunAs } from './embedded/run-as.js';

/** The subset of a pino logger we use; a pino Logger fits. */
export interface StartupLog {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  log: StartupLog;
  /** Default true. false: initdb --no-sync and fsync=off, for throwaway test clusters. */
  durable?: boolean;
  /** How long to wait for the server to accept connections, default 60 s. */
  startTimeoutMs?: number;
  /**
   * Called once PostgreSQL's own process is starting (or found running): from then on it needs none of this
   * process's event loop, so the caller may put synchronous work of its own (loading modules) beside it.
   */
  onStarting?: () => void;
  /**
   * Called with the superuser URL once the server says it accepts connections, before this module's own check
   * connects: the caller may connect beside that check rather than after it.
   */
  onAccepting?: (url: string) => void;
}

export interface EmbeddedPostgres {
  /** Superuser URL to the `postgres` database. */
  url: string;
  port: number;
  clusterDir: string;
  /** True when this process started the cluster and so is the one to stop it. */
  ownsProcess: boolean;
  /** Fast shutdown when we own the process; a no-op when attached to someone else's. */
  stop(): Promise<void>;
}

const STOP_TIMEOUT_MS = 30_000;

function superuserUrl(password: string, port: number): string {
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not allocate a port'));
      });
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const PASSWORD_FILE = 'DATA_DIR/postgres-password';

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch (error) {
    // A wrong password never heals by waiting: say what to do instead of retrying until the deadline.
    if ((error as { code?: string }).code === '28P01') {
      throw new Error(
        `the embedded PostgreSQL refuses the password in ${PASSWORD_FILE}: the cluster and DATA_DIR do not belong ` +
          'together (was DATA_DIR copied without its cluster?). Restore the matching password file, or move the cluster away to start afresh.',
      );
    }
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Wait for a postmaster someone else started to become ready (or to go away). */
async function waitForForeignReady(clusterDir: string, deadline: number): Promise<{ port: number } | undefined> {
  for (;;) {
    const state = await inspectPostmaster(clusterDir);
    if (state.kind !== 'running') return undefined;
    if (state.status === READY_STATUS && state.port > 0) return { port: state.port };
    if (Date.now() > deadline) {
      throw new Error(`the PostgreSQL in ${clusterDir} (pid ${state.pid}) stays "${state.status}"; stop it or wait`);
    }
    await sleep(100);
  }
}

interface Spawned {
  child: ChildProcess;
  exited: Promise<number | null>;
}

function spawnPostgres(
  binaries: Binaries,
  clusterDir: string,
  port: number,
  runAs: RunAs,
  durable: boolean,
  log: StartupLog,
  output: string[],
): Spawned {
  const args = ['-D', clusterDir, '-c', `port=${port}`, '-c', 'listen_addresses=127.0.0.1'];
  // No unix socket: its path length limit and directory permissions only cause trouble; TCP on loopback suffices.
  args.push('-c', 'unix_socket_directories=');
  if (!durable) args.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  // Same process group as us: a Ctrl-C in the terminal also stops postgres (SIGINT = fast shutdown).
  const child = spawn(binaries.postgres, args, { ...identity(runAs), stdio: ['ignore', 'pipe', 'pipe'] });
  const onLine = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      if (!line.trim()) continue;
      output.push(line);
      if (output.length > 50) output.shift();
      if (/\b(FATAL|PANIC):/.test(line)) log.warn(`postgres: ${line}`);
      else log.debug(`postgres: ${line}`);
    }
  };
  child.stdout?.on('data', onLine);
  child.stderr?.on('data', onLine);
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => resolve(code));
    child.on('error', (error) => {
      output.push(error.message);
      resolve(null);
    });
  });
  return { child, exited };
}

async function stopChild({ child, exited }: Spawned, log: StartupLog): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGINT');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS)));
  const timedOut = await Promise.race([exited.then(() => false), timeout]);
  clearTimeout(timer);
  if (timedOut) {
    log.warn('embedded PostgreSQL did not stop within 30 s; sending SIGQUIT (immediate shutdown)');
    child.kill('SIGQUIT');
    await exited;
  }
}

type LaunchResult = { kind: 'started'; spawned: Spawned; port: number } | { kind: 'lost-race' };

/** Spawn postgres on a free port and wait until it accepts connections. */
async function launch(
  binaries: Binaries,
  clusterDir: string,
  password: string,
  runAs: RunAs,
  durable: boolean,
  log: StartupLog,
  deadline: number,
  callbacks: Pick<EmbeddedPostgresOptions, 'onStarting' | 'onAccepting'>,
): Promise<LaunchResult> {
  const output: string[] = [];
  const port = await freePort();
  const spawned = spawnPostgres(binaries, clusterDir, port, runAs, durable, log, output);
  callbacks.onStarting?.();
  let exitCode: number | null | undefined;
  void spawned.exited.then((code) => (exitCode = code));
  for (;;) {
    await sleep(50);
    if (exitCode !== undefined) {
      const text = output.join('\n');
      if (/lock file "postmaster.pid" already exists/.test(text)) return { kind: 'lost-race' };
      if (/could not bind|Address already in use/i.test(text)) return { kind: 'lost-race' };
      throw new Error(`embedded PostgreSQL exited during start-up (code ${exitCode ?? 'unknown'}):\n${text}`);
    }
    const state = await inspectPostmaster(clusterDir);
    if (state.kind === 'running' && state.pid === spawned.child.pid && state.status === READY_STATUS) {
      callbacks.onAccepting?.(superuserUrl(password, port));
      // A refusal that waiting cannot heal (a wrong password) stops the postgres this call started.
      const connected = await canConnect(superuserUrl(password, port)).catch(async (error: unknown) => {
        await stopChild(spawned, log);
        throw error;
      });
      if (connected) return { kind: 'started', spawned, port };
    }
    if (Date.now() > deadline) {
      await stopChild(spawned, log);
      throw new Error(`embedded PostgreSQL did not accept connections in time:\n${output.join('\n')}`);
    }
  }
}

/** The cluster another process runs, once it is ready; undefined when it stopped meanwhile. */
async function attach(
  clusterDir: string,
  password: string,
  deadline: number,
  options: Pick<EmbeddedPostgresOptions, 'log' | 'onStarting'>,
): Promise<EmbeddedPostgres | undefined> {
  options.onStarting?.();
  const ready = await waitForForeignReady(clusterDir, deadline);
  if (!ready) return undefined;
  options.log.info(`attached to the running embedded PostgreSQL on 127.0.0.1:${ready.port}`);
  return { url: superuserUrl(password, ready.port), port: ready.port, clusterDir, ownsProcess: false, stop: async () => undefined };
}

/**
 * Start the embedded cluster of `dataDir`, or attach to the one another process (a running server) started.
 * The first start creates the cluster; later ones reuse it.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const { log } = options;
  const durable = options.durable ?? true;
  const dataDir = path.resolve(options.dataDir);
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  const info = (message: string) => log.info(message);

  // A cluster another process runs (a server's, for an admin command) is attached to at once: without the user
  // and binaries that only starting one needs (some 30 ms of child processes).
  const running = await existingCluster(dataDir);
  if (running && (await inspectPostmaster(running)).kind === 'running') {
    const attached = await attach(running, await superuserPassword(dataDir), deadline, options);
    if (attached) return attached;
  }

  const runAs = await resolveRunAs(info);
  const binaries = await resolveBinaries(runAs, info);
  const clusterDir = await locateCluster(dataDir, runAs, info);
  const password = await superuserPassword(dataDir);

  for (let attempt = 1; ; attempt++) {
    const state = await inspectPostmaster(clusterDir);
    if (state.kind === 'running') {
      const attached = await attach(clusterDir, password, deadline, options);
      if (attached) return attached;
      continue; // it stopped while we waited: start our own
    }
    if (state.kind === 'stale') {
      log.warn(`removing a stale ${path.join(clusterDir, 'postmaster.pid')} (${state.reason})`);
      await removeStalePid(clusterDir);
    }

    const started = Date.now();
    if (await ensureCluster({ clusterDir, password, binaries, runAs, durable })) {
      log.info(`created the embedded PostgreSQL cluster in ${clusterDir} (${Date.now() - started} ms)`);
    }
    log.info(`starting embedded PostgreSQL ${binaries.version} (${clusterDir})`);
    const result = await launch(binaries, clusterDir, password, runAs, durable, log, deadline, options);
    if (result.kind === 'started') {
      log.info(`embedded PostgreSQL ready on 127.0.0.1:${result.port} (${Date.now() - started} ms)`);
      let stopping: Promise<void> | undefined;
      return {
        url: superuserUrl(password, result.port),
        port: result.port,
        clusterDir,
        ownsProcess: true,
        stop: () => (stopping ??= stopChild(result.spawned, log)),
      };
    }
    // Another process started the cluster at the same moment, or the port was taken: look again.
    if (attempt >= 5) throw new Error(`could not start or attach to the embedded PostgreSQL in ${clusterDir}`);
  }
}
