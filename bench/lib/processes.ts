import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';

/** Pinning with taskset, where there is one and at least two cores: servers on core 0, the load on core 1. */
export const CAN_PIN =
  os.availableParallelism() >= 2 && spawnSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' }).status === 0;
export const SERVER_CPU = '0';
export const LOAD_CPU = '1';
/** The CPUs this process may use at start (taskset's list): to undo pin(process.pid, …). */
export const ALL_CPUS = CAN_PIN
  ? (/list:\s*(\S+)/.exec(spawnSync('taskset', ['-pc', String(process.pid)], { encoding: 'utf8' }).stdout ?? '')?.[1] ??
    `0-${os.availableParallelism() - 1}`)
  : '';

/** Pins every thread of a running process (its children started later inherit it; earlier ones keep theirs). */
export function pin(pid: number, cpu: string): void {
  if (CAN_PIN) spawnSync('taskset', ['-a', '-p', '-c', cpu, String(pid)], { stdio: 'ignore' });
}

export interface Started {
  child: ChildProcess;
  pid: number;
  /** What followed `ready ` on stdout. */
  ready: string;
  /** Spawn to the `ready` line, in ms. */
  readyMs: number;
  /** SIGTERM to the process group, then wait for the exit (SIGKILL after `graceMs`). Answers when it exited (performance.now()). */
  stop(graceMs?: number): Promise<number>;
}

/**
 * Spawns a process in its own process group, with stdout read for a line `ready <something>` and stderr
 * appended to `logFile` (so that the harness does not spend CPU on the server's access log).
 */
export async function startProcess(
  command: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; cwd: string; logFile: string; timeoutMs: number },
): Promise<Started> {
  const log = fs.openSync(options.logFile, 'a');
  const t0 = performance.now();
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', log], detached: true });
  fs.closeSync(log);
  let exitedAt: number | undefined;
  const exited = new Promise<number>((resolve) => child.once('exit', () => resolve((exitedAt = performance.now()))));
  const ready = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(
      () => reject(new Error(`${command} ${args.join(' ')}: no "ready" line within ${options.timeoutMs} ms (see ${options.logFile})`)),
      options.timeoutMs,
    );
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      buffered += chunk;
      const match = /^ready (\S+)/m.exec(buffered);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${command} ${args.join(' ')} exited before "ready" (code ${child.exitCode}; see ${options.logFile})`));
    });
  });
  const readyMs = performance.now() - t0;
  // Keep draining stdout so that the child never blocks on a full pipe.
  child.stdout?.resume();
  const pid = child.pid as number;
  const stop = async (graceMs = 15_000) => {
    if (exitedAt !== undefined) return exitedAt;
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, graceMs);
    const at = await exited;
    clearTimeout(timer);
    return at;
  };
  return { child, pid, ready, readyMs, stop };
}

/** Resident memory of a process from /proc (kB → MiB); undefined where there is no /proc. */
export function memoryOf(pid: number): { rssMiB: number; hwmMiB: number } | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** Resets the peak RSS (VmHWM) of a process to its current RSS (Linux: clear_refs 5). */
export function resetPeak(pid: number): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** CPU time (user + system) a process has used so far, in ms; NaN where there is no /proc. */
export function cpuMsOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'; utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;
