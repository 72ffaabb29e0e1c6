import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Binaries } from './binaries.js';
import { canReach, identity, type LogLine, type RunAs } from './run-as.js';

/** Where relocated clusters live when the postgres user cannot enter DATA_DIR (see locateCluster). */
const RELOCATION_ROOTS = ['/var/lib/lakehouse-mcp/clusters', path.join(os.tmpdir(), 'lakehouse-mcp', 'clusters')];

async function lstatOrUndefined(target: string) {
  try {
    return await fs.lstat(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function mkdirReadable(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o755 });
}

/**
 * The cluster directory for `dataDir`: `<dataDir>/postgres`, or, when we run as root and the postgres user
 * cannot enter DATA_DIR (a clone under /root), a directory under /var/lib/lakehouse-mcp/clusters that
 * `<dataDir>/postgres` links to. Later starts follow the link.
 */
/** The cluster folder of `dataDir` when it has one (its link resolved); undefined before the first start. */
export async function existingCluster(dataDir: string): Promise<string | undefined> {
  const link = path.join(dataDir, 'postgres');
  const stat = await lstatOrUndefined(link);
  if (!stat) return undefined;
  return stat.isSymbolicLink() ? path.resolve(dataDir, await fs.readlink(link)) : link;
}

export async function locateCluster(dataDir: string, runAs: RunAs, info: LogLine): Promise<string> {
  await fs.mkdir(dataDir, { recursive: true });
  const link = path.join(dataDir, 'postgres');
  const stat = await lstatOrUndefined(link);
  if (stat?.isSymbolicLink()) {
    const target = path.resolve(dataDir, await fs.readlink(link));
    await mkdirReadable(path.dirname(target));
    return target;
  }
  if (stat || canReach(dataDir, runAs)) return link;

  const hash = createHash('sha256')
    .update(await fs.realpath(dataDir))
    .digest('hex')
    .slice(0, 16);
  for (const root of RELOCATION_ROOTS) {
    try {
      await mkdirReadable(root);
    } catch {
      continue;
    }
    if (!canReach(root, runAs)) continue;
    const target = path.join(root, hash);
    if (await lstatOrUndefined(target)) {
      // DATA_DIR was deleted (a reset) but its relocated cluster was not: keep it aside, start afresh.
      const aside = `${target}.orphaned-${Date.now()}`;
      await fs.rename(target, aside);
      info(`${dataDir} had no cluster link; the old relocated cluster was moved to ${aside} (delete it if you do not need it)`);
    }
    await fs.symlink(target, link);
    info(`the postgres user cannot enter ${dataDir}; the embedded PostgreSQL cluster lives in ${target} (linked from ${link})`);
    return target;
  }
  throw new Error(
    `the postgres user cannot enter ${dataDir} and no cluster directory could be made under ${RELOCATION_ROOTS.join(' or ')}; ` +
      'set DATA_DIR to a directory other users can enter, or set DATABASE_URL',
  );
}

/** Read the superuser password, generating it (mode 0600) on first start. */
export async function superuserPassword(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'postgres-password');
  try {
    const password = (await fs.readFile(file, 'utf8')).trim();
    if (password) return password;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  // base64url: safe in a connection URL without escaping.
  const password = randomBytes(24).toString('base64url');
  await fs.writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
}

function run(command: string, args: string[], runAs: RunAs): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...identity(runAs), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

async function chownTo(target: string, runAs: RunAs): Promise<void> {
  if (runAs.uid !== undefined && runAs.gid !== undefined) await fs.chown(target, runAs.uid, runAs.gid);
}

export interface InitOptions {
  clusterDir: string;
  password: string;
  binaries: Binaries;
  runAs: RunAs;
  /** false skips fsync (tests): much faster, not crash-safe. */
  durable: boolean;
}

/**
 * Create the cluster unless it exists. initdb writes into a sibling directory that is renamed into place
 * only when complete, so a crash mid-initdb (or a concurrent first start) never leaves a half cluster.
 * Returns true when a new cluster was created.
 */
export async function ensureCluster({ clusterDir, password, binaries, runAs, durable }: InitOptions): Promise<boolean> {
  const existing = await lstatOrUndefined(clusterDir);
  if (existing) {
    if (await lstatOrUndefined(path.join(clusterDir, 'PG_VERSION'))) return false;
    if ((await fs.readdir(clusterDir)).length > 0) {
      throw new Error(`${clusterDir} exists but is not a PostgreSQL cluster; move it away or empty it`);
    }
  }
  const suffix = randomBytes(4).toString('hex');
  const staging = `${clusterDir}.init-${suffix}`;
  const pwfile = `${clusterDir}.pw-${suffix}`;
  try {
    await fs.mkdir(staging, { mode: 0o700 });
    await chownTo(staging, runAs);
    await fs.writeFile(pwfile, password, { mode: 0o600 });
    await chownTo(pwfile, runAs);
    const args = ['-D', staging, '-U', 'postgres', `--pwfile=${pwfile}`, '--auth=scram-sha-256'];
    args.push('-E', 'UTF8', '--locale=C', '--no-instructions');
    if (!durable) args.push('--no-sync');
    const { code, output } = await run(binaries.initdb, args, runAs);
    if (code !== 0) {
      throw new Error(`initdb failed (exit ${code ?? 'signal'}) creating the embedded cluster:\n${output.trim()}`);
    }
    try {
      await fs.rename(staging, clusterDir);
    } catch (error) {
      // A concurrent first start won the race: its cluster is as good as ours.
      if (await lstatOrUndefined(path.join(clusterDir, 'PG_VERSION'))) return false;
      throw error;
    }
    return true;
  } finally {
    await fs.rm(pwfile, { force: true });
    await fs.rm(staging, { recursive: true, force: true });
  }
}

/**
 * Delete the cluster of `dataDir`, following the relocation link (tests, `rm -rf DATA_DIR` would leave a
 * relocated cluster behind). The cluster must be stopped.
 */
export async function removeCluster(dataDir: string): Promise<void> {
  const link = path.join(dataDir, 'postgres');
  const stat = await lstatOrUndefined(link);
  if (stat?.isSymbolicLink()) await fs.rm(path.resolve(dataDir, await fs.readlink(link)), { recursive: true, force: true });
  await fs.rm(link, { recursive: true, force: true });
}
