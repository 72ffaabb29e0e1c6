import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface ServerProcess {
  child: ChildProcess;
  /** The port it listens on (127.0.0.1). */
  port: number;
  /** Settles when the process has exited. */
  exited: Promise<void>;
}

/**
 * `src/main.ts` as a process of its own (as `npm start` runs it) with `env`, resolved once it printed its
 * listening address and `ready`; rejected with its stderr if it exits first or takes over 90 s.
 */
export function startServerProcess(env: NodeJS.ProcessEnv): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line in 90 s:\n${stderr}`)), 90_000);
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const port = /listening on 127\.0\.0\.1:(\d+)/.exec(stdout)?.[1];
      if (port && /^ready /m.test(stdout)) {
        clearTimeout(timer);
        resolve({ child, port: Number(port), exited });
      }
    });
    void exited.then(() => reject(new Error(`exited with ${child.exitCode} before ready:\n${stderr}`)));
  });
}
