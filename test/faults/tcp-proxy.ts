import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';

/**
 * A TCP proxy in front of PostgreSQL that the test can take down and bring back: `down()` closes the
 * listener and resets every open connection (the server sees ECONNRESET on its sessions and ECONNREFUSED
 * on new ones, as when the database host stops), `up()` listens again on the same port.
 *
 * It runs in a process of its own, as a database host would: sockets reset in the middle of a connect could
 * leave the test process spinning in Node's exit clean-up (seen about one run in five), which hung the suite.
 */
export class TcpProxy {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, { resolve: (port: number) => void; reject: (error: Error) => void }>();
  private nextId = 0;
  port = 0;

  constructor(targetHost: string, targetPort: number) {
    this.child = fork(path.join(import.meta.dirname, 'tcp-proxy-process.ts'), [targetHost, String(targetPort)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (message: { id: number; port?: number; error?: string }) => {
      const waiting = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error !== undefined) waiting?.reject(new Error(message.error));
      else waiting?.resolve(message.port ?? 0);
    });
    this.child.on('exit', () => {
      for (const waiting of this.pending.values()) waiting.reject(new Error('the TCP proxy process exited'));
      this.pending.clear();
    });
  }

  private command(command: 'up' | 'down'): Promise<number> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, command });
    });
  }

  async up(): Promise<void> {
    this.port = await this.command('up');
  }

  async down(): Promise<void> {
    await this.command('down');
  }

  /** Ends the proxy process (and every connection through it). */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }

  /** `url` with its host and port replaced by the proxy's. */
  rewrite(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.port);
    return parsed.href;
  }
}
