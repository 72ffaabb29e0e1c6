import fs from 'node:fs/promises';
import path from 'node:path';

/** What `<cluster>/postmaster.pid` says about the cluster. */
export type PostmasterState =
  { kind: 'absent' } | { kind: 'stale'; reason: string } | { kind: 'running'; pid: number; port: number; status: string };

/** PostgreSQL writes this status word on line 8 once it accepts connections. */
export const READY_STATUS = 'ready';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, owned by someone else (e.g. the postgres user while we are not root).
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether `pid` is a postmaster serving `clusterDir`: after a crash or a container restart the pid in the file
 * may belong to any other process. The postmaster chdirs into its data directory and keeps `-D <dir>` in its
 * command line; either proves it.
 */
async function isPostmasterFor(pid: number, clusterDir: string): Promise<boolean> {
  const want = await fs.realpath(clusterDir);
  try {
    if ((await fs.readlink(`/proc/${pid}/cwd`)) === want) return true;
  } catch {
    // Not ours to inspect (another uid), or no /proc: fall back to the command line.
  }
  let args: string[];
  try {
    args = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
  } catch (error) {
    // Without /proc (macOS) we cannot tell; a live pid in the file is most likely the postmaster.
    return (error as NodeJS.ErrnoException).code === 'ENOENT' && !(await exists('/proc/self'));
  }
  if (path.basename(args[0] ?? '') !== 'postgres') return false;
  const dataIndex = args.indexOf('-D');
  const dataArg = dataIndex >= 0 ? args[dataIndex + 1] : undefined;
  if (dataArg === undefined) return false;
  try {
    return (await fs.realpath(dataArg)) === want;
  } catch {
    return false;
  }
}

async function exists(target: string): Promise<boolean> {
  try {
    await fs.access(target);
    return true;
  } catch {
    return false;
  }
}

export async function inspectPostmaster(clusterDir: string): Promise<PostmasterState> {
  let text: string;
  try {
    text = await fs.readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    throw error;
  }
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0) return { kind: 'stale', reason: 'unreadable pid' };
  if (!isAlive(pid)) return { kind: 'stale', reason: `process ${pid} is gone` };
  if (!(await isPostmasterFor(pid, clusterDir))) {
    return { kind: 'stale', reason: `process ${pid} is not a postgres for this data directory` };
  }
  if (!Number.isInteger(port) || port <= 0) {
    // Written by a postmaster that has not got as far as the port line yet.
    return { kind: 'running', pid, port: 0, status: 'starting' };
  }
  return { kind: 'running', pid, port, status: (lines[7] ?? '').trim() };
}

export async function removeStalePid(clusterDir: string): Promise<void> {
  await fs.rm(path.join(clusterDir, 'postmaster.pid'), { force: true });
}
