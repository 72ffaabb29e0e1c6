import type { JobRow } from '../jobs/jobs.js';
import type { Context } from 'koa';
import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import type { Database, JsonObject } from '../db/schema.js';
import type { FixedWindowLimiter } from '../http/rate-limit.js';
import type { Lakehouse } from '../lakehouse/lakehouse.js';
import type { Logger } from '../logger.js';
import type { OAuthServer } from '../oauth/oauth-server.js';
import type { Principal } from '../oauth/principal.js';
import type { AuditLog } from './audit.js';

/**
 * Everything a handler may use, built once at start-up (src/server.ts, `createServices`) and passed down
 * explicitly: a handler's context type shows what it can reach, and a harness that leaves one out does not
 * compile.
 */
export interface Services {
  config: Config;
  /** The server's own state (Kysely on PostgreSQL). */
  db: Kysely<Database>;
  log: Logger;
  /** Checks that the database answers (for /readyz). */
  ping(): Promise<void>;
  /** The environments' SQL sandboxes: every query of an agent's data goes through it. */
  lakehouse: Lakehouse;
  /** The in-process limits, shared by /v1 and /api/v1 (TOOL_CALL_LIMIT). */
  limiters: { toolCalls: FixedWindowLimiter };
  /** The notification outbox's worker: `nudge()` after queueing a delivery (a no-op when none runs here). */
  webhooks: { nudge(): void };
  /** The authorization server and token verifier of this process. */
  oauth: OAuthServer;
  /** The batched audit trail: one row per tool call and per authenticated REST call. */
  audit: AuditLog;
}

/** MCP log levels (RFC 5424 severities), lowest first. */
export type ClientLogLevel = 'debug' | 'info' | 'notice' | 'warning' | 'error' | 'critical' | 'alert' | 'emergency';

/** An MCP content item a tool adds to its result (CallToolResult.content): an image, or a link to a resource. */
export type ToolContentItem =
  | {
      type: 'image';
      /** base64 */
      data: string;
      mimeType: string;
    }
  | { type: 'resource_link'; uri: string; name: string; mimeType: string; size: number; description?: string };

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
  /**
   * What the audit row of this call records besides who, what and the outcome: SQL tools set `sql`; delete
   * tools set `detail` (which asset, and whether it was there).
   */
  audited: { sql?: string; detail?: JsonObject };
  /**
   * Extra MCP content items, sent after the JSON text item (render_insight's chart). Present only over MCP;
   * a tool that has something to show on REST puts it in its output instead.
   */
  content?: ToolContentItem[];
  /**
   * Present when the MCP client accepts a task for this call (the 2026-07-28 tasks extension, src/mcp/tasks.ts):
   * a handler that can run as a query job starts one, records it here and returns at once.
   */
  task?: TaskSlot;
}

/** Where a handler records the job it started instead of answering (see ToolContext.task). */
export interface TaskSlot {
  job?: JobRow;
}

/** The context of one typed REST operation (and of a raw Koa one). */
export interface OperationContext extends Services {
  requestId: string;
  /** The caller, on routes that need a bearer token (undefined on public ones). */
  principal: Principal | undefined;
}

/** Koa state set by our middleware before a route runs. */
export interface AppState {
  requestId: string;
  /** The matched route template, for metrics and logs. */
  route?: string;
}

export type AppContext = Context & { state: AppState };

/**
 * A route the contract marks `x-handler: koa` (OAuth bodies, HTML pages, redirects, streamed uploads): it
 * writes the Koa response itself and gets the same context as a typed operation.
 */
export type KoaOperationHandler = (ctx: AppContext, context: OperationContext) => Promise<void>;
