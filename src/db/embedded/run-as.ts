import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The OS identity the Postgres processes run as; undefined fields mean "this process's own". */
export interface RunAs {
  uid: number | undefined;
  gid: number | undefined;
  /** True when we are root and drop to the `postgres` user (postgres refuses to run as root). */
  dropped: boolean;
}

export type LogLine = (message: string) => void;

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

async function idOf(user: string, flag: '-u' | '-g'): Promise<number | undefined> {
  try {
    const { stdout } = await execFileAsync('id', [flag, user]);
    const value = Number(stdout.trim());
    return Number.isInteger(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * As root, find (or create) the `postgres` system user to run initdb and postgres as;
 * otherwise run as ourselves.
 */
export async function resolveRunAs(info: LogLine): Promise<RunAs> {
  if (!isRoot()) return { uid: undefined, gid: undefined, dropped: false };
  let uid = await idOf('postgres', '-u');
  if (uid === undefined) {
    info('running as root: creating the "postgres" system user to run the embedded PostgreSQL');
    try {
      await execFileAsync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      throw new Error(
        `PostgreSQL cannot run as root and the "postgres" user could not be created (${detail.trim()}). ` +
          'Create it yourself (useradd --system --user-group postgres), run as a non-root user, or set DATABASE_URL.',
      );
    }
    uid = await idOf('postgres', '-u');
  }
  const gid = await idOf('postgres', '-g');
  if (uid === undefined || gid === undefined) throw new Error('could not read the uid/gid of the "postgres" user');
  return { uid, gid, dropped: true };
}

/**
 * Whether `runAs` can traverse to `target` and use it (`test -x`, evaluated by the kernel for that uid/gid,
 * so every ancestor's search bit and ACLs count; libuv drops supplementary groups, as for the real children).
 */
export function canReach(target: string, runAs: RunAs): boolean {
  if (!runAs.dropped) return true;
  const result = spawnSync('test', ['-x', target], {
    ...(runAs.uid === undefined ? {} : { uid: runAs.uid }),
    ...(runAs.gid === undefined ? {} : { gid: runAs.gid }),
    stdio: 'ignore',
  });
  return result.status === 0;
}

/** Spawn options that run a child as `runAs`. */
export function identity(runAs: RunAs): { uid?: number; gid?: number } {
  return {
    ...(runAs.uid === undefined ? {} : { uid: runAs.uid }),
    ...(runAs.gid === undefined ? {} : { gid: runAs.gid }),
  };
}
