import type { Kysely } from 'kysely';
import type { Middleware } from 'koa';
import type { Config } from '../config.js';
import type { Database } from '../db/schema.js';
import type { Logger } from '../logger.js';
import type { Principal } from '../oauth/principal.js';

/** What every handler may use: the process's configuration, database and logger. */
export interface Services {
  config: Config;
  db: Kysely<Database>;
  log: Logger;
  /** Checks that the database answers (for /readyz). */
  ping(): Promise<void>;
}

/** MCP log levels (RFC 5424 severities), lowest first. */
export type ClientLogLevel = 'debug' | 'info' | 'notice' | 'warning' | 'error' | 'critical' | 'alert' | 'emergency';

/** An MCP content item a tool adds to its result (CallToolResult.content). */
export interface ToolContentItem {
  type: 'image';
  /** base64 */
  data: string;
  mimeType: string;
}

/** The context of one tool call, served over MCP or REST. */
export interface ToolContext extends Services {
  requestId: string;
  /** Aborted when the caller goes away or cancels. */
  signal: AbortSignal;
  /** Who the bearer token speaks for. */
  principal: Principal;
  /** The MCP protocol version of this request; undefined on the REST API. */
  protocolVersion: string | undefined;
  /**
   * Reports progress of long work. Reaches the client only over MCP, when the call carried a
   * `progressToken` (the response then becomes an SSE stream); a no-op otherwise. `progress` must increase.
   */
  progress(progress: number, total?: number, message?: string): void;
  /**
   * A log message for the client (`notifications/message`), sent on the call's SSE stream when there is
   * one and `level` is at or above the request's level; a no-op otherwise (REST, plain JSON responses).
   */
  clientLog(level: ClientLogLevel, data: unknown): void;
  /** What the audit row of this call records besides who, what and the outcome: SQL tools set `sql`. */
  audit: { sql?: string };
  /**
   * Extra MCP content items, sent after the JSON text item (render_insight's chart). Present only over MCP;
   * a tool that has something to show on REST puts it in its output instead.
   */
  content?: ToolContentItem[];
}

/** The context of one typed REST operation. */
export interface OperationContext extends Services {
  requestId: string;
  /** The caller, on routes that need a bearer token (undefined on public ones). */
  principal: Principal | undefined;
}

/** Koa state set by our middleware before a route runs. */
export interface AppState {
  requestId: string;
  /** The parsed request body, when the route declares one. */
  body?: unknown;
  /** The matched route template, for metrics and logs. */
  route?: string;
  /** The verified caller of a bearer-protected route. */
  principal?: Principal;
  /** The process's services, set by the router before it calls a Koa operation handler. */
  services?: Services;
}

export type KoaOperationHandler = Middleware<AppState>;
