import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { APP_DATABASE, openDatabase, withDatabase, type OpenDatabase } from '../../../src/db/database.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../../src/db/embedded-postgres.js';
import { captureLog, makeDataDir, removeDataDir } from '../../helpers/db.js';

async function query<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((resolve) => child.on('exit', resolve));
  assert.ok(child.pid);
  return child.pid;
}

async function writeFakePid(clusterDir: string, pid: number): Promise<void> {
  const lines = [pid, clusterDir, 1_700_000_000, 54321, '', '127.0.0.1', '  1234 5678', 'ready   '];
  await fs.writeFile(path.join(clusterDir, 'postmaster.pid'), `${lines.join('\n')}\n`);
}

describe('embedded PostgreSQL', () => {
  let dataDir: string;
  let running: EmbeddedPostgres | undefined;

  before(async () => {
    dataDir = await makeDataDir();
  });
  after(async () => {
    await running?.stop();
    await removeDataDir(dataDir);
  });

  it('creates a cluster in a fresh DATA_DIR with a private password file, listening on 127.0.0.1 only', async () => {
    const log = captureLog();
    running = await startEmbeddedPostgres({ dataDir, log, durable: false });
    assert.equal(running.ownsProcess, true);
    assert.match(running.url, /^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/postgres$/);
    assert.equal(running.clusterDir, path.join(dataDir, 'postgres'));
    await fs.access(path.join(running.clusterDir, 'PG_VERSION'));
    assert.equal((await fs.stat(path.join(dataDir, 'postgres-password'))).mode & 0o777, 0o600);
    assert.ok(log.lines.some((l) => l.includes('created the embedded PostgreSQL cluster')));
    const [settings] = await query<{ listen: string; socket: string; encoding: string; auth: string }>(
      running.url,
      `SELECT current_setting('listen_addresses') AS listen, current_setting('unix_socket_directories') AS socket,
              pg_encoding_to_char(encoding) AS encoding, current_setting('password_encryption') AS auth
         FROM pg_database WHERE datname = 'postgres'`,
    );
    assert.deepEqual(settings, { listen: '127.0.0.1', socket: '', encoding: 'UTF8', auth: 'scram-sha-256' });
    await query(running.url, 'CREATE TABLE marker AS SELECT 42 AS answer');
  });

  it('refuses a wrong password (scram-sha-256, not trust)', async () => {
    assert.ok(running);
    const wrong = running.url.replace(/:[^:@]+@/, ':wrong@');
    await assert.rejects(query(wrong, 'SELECT 1'), /password authentication failed/);
  });

  it('attaches a second start to the running cluster, which only the process that started it stops', async () => {
    assert.ok(running);
    const attached = await startEmbeddedPostgres({ dataDir, log: captureLog(), durable: false });
    assert.equal(attached.ownsProcess, false);
    assert.equal(attached.port, running.port);
    await attached.stop();
    assert.deepEqual(await query(running.url, 'SELECT answer FROM marker'), [{ answer: 42 }]);
  });

  it('reuses the cluster and its data on the next start, on a newly chosen port', async () => {
    assert.ok(running);
    await running.stop();
    await assert.rejects(fs.access(path.join(running.clusterDir, 'postmaster.pid')));
    const log = captureLog();
    running = await startEmbeddedPostgres({ dataDir, log, durable: false });
    assert.equal(running.ownsProcess, true);
    assert.ok(!log.lines.some((l) => l.includes('created the embedded PostgreSQL cluster')));
    assert.deepEqual(await query(running.url, 'SELECT answer FROM marker'), [{ answer: 42 }]);
  });

  it('starts despite a stale postmaster.pid whose process is gone', async () => {
    assert.ok(running);
    await running.stop();
    await writeFakePid(running.clusterDir, await deadPid());
    const log = captureLog();
    running = await startEmbeddedPostgres({ dataDir, log, durable: false });
    assert.equal(running.ownsProcess, true);
    assert.ok(
      log.lines.some((l) => /stale .*is gone/.test(l)),
      log.lines.join('\n'),
    );
    assert.deepEqual(await query(running.url, 'SELECT answer FROM marker'), [{ answer: 42 }]);
  });

  it('starts despite a stale postmaster.pid whose pid now belongs to a process that is not this postgres', async () => {
    assert.ok(running);
    await running.stop();
    await writeFakePid(running.clusterDir, process.pid);
    const log = captureLog();
    running = await startEmbeddedPostgres({ dataDir, log, durable: false });
    assert.equal(running.ownsProcess, true);
    assert.ok(
      log.lines.some((l) => /stale .*not a postgres/.test(l)),
      log.lines.join('\n'),
    );
    await running.stop();
    running = undefined;
  });
});

const isRoot = process.getuid?.() === 0;

describe('embedded PostgreSQL started by root', () => {
  it(
    'runs as the postgres user when DATA_DIR is under a 0700 folder owned by root, relocating the cluster; deleting DATA_DIR starts afresh',
    { skip: isRoot ? false : 'needs root: only root drops to the postgres user and relocates unreachable clusters' },
    async () => {
      const locked = await fs.mkdtemp(path.join(os.tmpdir(), 'lakehouse-locked-'));
      await fs.chmod(locked, 0o700);
      const dataDir = path.join(locked, 'data');
      let cluster: EmbeddedPostgres | undefined;
      try {
        const log = captureLog();
        cluster = await startEmbeddedPostgres({ dataDir, log, durable: false });
        assert.ok(
          log.lines.some((l) => l.includes('cannot enter')),
          log.lines.join('\n'),
        );
        assert.ok((await fs.lstat(path.join(dataDir, 'postgres'))).isSymbolicLink());
        assert.equal(await fs.realpath(path.join(dataDir, 'postgres')), cluster.clusterDir);
        assert.ok(!cluster.clusterDir.startsWith(locked));
        const [pidLine = ''] = (await fs.readFile(path.join(cluster.clusterDir, 'postmaster.pid'), 'utf8')).split('\n');
        const status = await fs.readFile(`/proc/${pidLine}/status`, 'utf8');
        assert.doesNotMatch(status, /^Uid:\s+0\b/m, 'postgres must not run as root');
        assert.deepEqual(await query(cluster.url, 'SELECT 1 AS ok'), [{ ok: 1 }]);

        // The next start follows the link to the same cluster.
        await query(cluster.url, 'CREATE TABLE kept (x int)');
        await cluster.stop();
        cluster = await startEmbeddedPostgres({ dataDir, log: captureLog(), durable: false });
        assert.equal(cluster.ownsProcess, true);
        assert.equal((await query(cluster.url, "SELECT to_regclass('kept') IS NOT NULL AS kept"))[0]?.kept, true);

        // Deleting DATA_DIR resets: the next start makes a fresh cluster (the old one is moved aside, not reused
        // with a password it does not know).
        const oldCluster = cluster.clusterDir;
        await cluster.stop();
        cluster = undefined;
        await fs.rm(dataDir, { recursive: true, force: true });
        const resetLog = captureLog();
        cluster = await startEmbeddedPostgres({ dataDir, log: resetLog, durable: false });
        assert.equal((await query(cluster.url, "SELECT to_regclass('kept') IS NULL AS fresh"))[0]?.fresh, true);
        const aside = resetLog.lines.find((l) => l.includes('moved to'))?.match(/moved to (\S+)/)?.[1];
        assert.ok(aside?.startsWith(`${oldCluster}.orphaned-`), resetLog.lines.join('\n'));
        await fs.rm(aside ?? '', { recursive: true, force: true });
      } finally {
        await cluster?.stop();
        await removeDataDir(dataDir);
        await fs.rm(locked, { recursive: true, force: true });
      }
    },
  );
});

describe("the database opened as npm start opens it: the pool connects beside the cluster's own check", () => {
  let dataDir: string;
  before(async () => {
    dataDir = await makeDataDir();
    // The cluster exists and is stopped: the next start is a warm start.
    await (await startEmbeddedPostgres({ dataDir, log: captureLog(), durable: false })).stop();
  });
  after(async () => {
    await removeDataDir(dataDir);
  });

  /** startEmbeddedPostgres and openDatabase wired as src/main.ts wires them. */
  function openEarly(): { accepted: string[]; opening: Promise<OpenDatabase> } {
    const accepted: string[] = [];
    let accepting: (url: string) => void = () => undefined;
    const acceptingUrl = new Promise<string>((resolve) => (accepting = resolve));
    const started = startEmbeddedPostgres({
      dataDir,
      log: captureLog(),
      durable: false,
      onAccepting: (url) => {
        accepted.push(url);
        accepting(url);
      },
    });
    return { accepted, opening: openDatabase({ databaseUrl: undefined, dataDir }, captureLog(), { started, accepting: acceptingUrl }) };
  }

  it('opens the migrated database on the URL the cluster announced, and close() stops the cluster', async () => {
    const { accepted, opening } = openEarly();
    const opened = await opening;
    try {
      assert.equal(accepted.length, 1, 'onAccepting called once, before the check');
      assert.equal(opened.url, withDatabase(accepted[0] ?? '', APP_DATABASE));
      assert.equal(opened.embedded?.ownsProcess, true);
      assert.deepEqual(await query(opened.url, "SELECT to_regclass('kysely_migration') IS NOT NULL AS migrated"), [{ migrated: true }]);
    } finally {
      await opened.close();
      await opened.close(); // a second close (npm start after a failed start) is a no-op
    }
    await assert.rejects(query(opened.url, 'SELECT 1'), 'the cluster stopped');
  });

  it("reports the cluster's own error for a wrong password, not the pool's, and leaves nothing running", async () => {
    const passwordFile = path.join(dataDir, 'postgres-password');
    const password = await fs.readFile(passwordFile, 'utf8');
    await fs.writeFile(passwordFile, 'not-the-password');
    try {
      const { opening } = openEarly();
      await assert.rejects(opening, /refuses the password in DATA_DIR\/postgres-password/);
    } finally {
      await fs.writeFile(passwordFile, password);
    }
    // The refused start left no postmaster behind: the next start owns its own.
    const next = await startEmbeddedPostgres({ dataDir, log: captureLog(), durable: false });
    assert.equal(next.ownsProcess, true);
    await next.stop();
  });
});
