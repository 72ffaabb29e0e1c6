import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs on stderr, so that stdout carries only the lines a person or a script reads.
 * Buffered (sonic-boom, flushed every 4 KiB and on stop): a synchronous write per request line was the largest
 * single cost of a tool call in the benchmark's CPU profile.
 */
export function createLogger(level: string): Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest: 2, sync: false, minLength: 4096 }));
}

/** Writes out what the logger still buffers (call before the process exits). */
export function flushLogger(log: Logger): Promise<void> {
  return new Promise((resolve) => log.flush(() => resolve()));
}
