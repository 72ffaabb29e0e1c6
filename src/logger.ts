import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stderr, so that stdout carries only the lines a person or a script reads. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination(2));
}
