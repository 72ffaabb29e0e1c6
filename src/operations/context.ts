import type { Kysely } from 'kysely';
import type { Middleware } from 'koa';
import type { Config } from '../config.js';
import type { Database } from '../db/schema.js';
import type { Logger } from '../logger.js';

/** What every handler may use: the process's configuration, database and logger. */
export interface Services {
  config: Config;
  db: Kysely<Database>;
  log: Logger;
  /** Checks that the database answers (for /readyz). */
  ping(): Promise<void>;
}

/** The context of one tool call, served over MCP or REST. */
export interface ToolContext extends Services {
  requestId: string;
  /** Aborted when the caller goes away or cancels. */
  signal: AbortSignal;
}

/** The context of one typed REST operation. */
export interface OperationContext extends Services {
  requestId: string;
}

/** Koa state set by our middleware before a route runs. */
export interface AppState {
  requestId: string;
  /** The parsed request body, when the route declares one. */
  body?: unknown;
  /** The matched route template, for metrics and logs. */
  route?: string;
}

export type KoaOperationHandler = Middleware<AppState>;
