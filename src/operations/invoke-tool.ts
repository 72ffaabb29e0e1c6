import { performance } from 'node:perf_hooks';
import { AppError } from '../errors.js';
import { toolCallLimitError } from '../http/rate-limit.js';
import { toAppError } from '../http/problem.js';
import { insufficientScope } from '../oauth/challenge.js';
import type { Principal } from '../oauth/principal.js';
import { auditActor, type AuditOutcome } from './audit.js';
import type { ClientLogLevel, Services, TaskSlot, ToolContentItem, ToolContext } from './context.js';
import type { Locate, ToolRegistry } from './tool-registry.js';

/** What a transport knows about one tool call besides its name and input. */
export interface ToolCall {
  principal: Principal;
  requestId: string;
  /** Aborted when the client hangs up or cancels; the call then ends as `cancelled`. */
  signal: AbortSignal;
  /** Where the input's fields came from, for the violations of an invalid input. */
  locate: Locate;
  /** The MCP protocol version of the request; undefined on REST. */
  protocolVersion?: string;
  /** Progress and log notifications to the client; no-ops where the transport has no channel for them. */
  progress?: ToolContext['progress'];
  clientLog?: (level: ClientLogLevel, data: unknown) => void;
  /** The transport sends extra content items (MCP): tools add them here rather than to their output. */
  content?: ToolContentItem[];
  /** The MCP client accepts a task (tasks extension): a handler may start a job and record it here. */
  task?: TaskSlot;
}

/** How a tool call ended: its output (and extra MCP content items), or the error to answer with. */
export type ToolOutcome = { ok: true; output: unknown; content: ToolContentItem[] } | { ok: false; error: AppError; cancelled: boolean };

/** A call the client abandoned. Nobody reads the answer; the code is for the audit trail and the logs. */
const cancelled = (reason: unknown) =>
  new AppError('cancelled', `Request cancelled: ${(reason as Error | undefined)?.message ?? 'cancelled'}`);

/** The audit outcome of an error, one vocabulary for /v1 and /api/v1. */
export function auditOutcomeOf(error: AppError): AuditOutcome {
  if (error.code === 'validation_failed') return 'invalid_input';
  if (error.code === 'insufficient_scope') return 'forbidden';
  return `error:${error.code}`;
}

/**
 * One tool call, the same over MCP (/v1) and REST (/api/v1): find the tool → check the token's scope →
 * TOOL_CALL_LIMIT → validate the input (filling defaults) → run → audit. Never throws: the transport maps the
 * outcome to a JSON-RPC result or to a problem document.
 */
export async function invokeTool(
  services: Services,
  tools: ToolRegistry,
  name: string,
  input: unknown,
  call: ToolCall,
): Promise<ToolOutcome> {
  const { principal, signal } = call;
  const started = performance.now();
  const at = new Date();
  const ctx: ToolContext = {
    ...services,
    requestId: call.requestId,
    signal,
    principal,
    protocolVersion: call.protocolVersion,
    progress: call.progress ?? (() => undefined),
    clientLog: call.clientLog ?? (() => undefined),
    audited: {},
    ...(call.content ? { content: call.content } : {}),
    ...(call.task ? { task: call.task } : {}),
  };
  let outcome: ToolOutcome;
  try {
    const tool = tools.tools.find((t) => t.name === name);
    if (!tool) {
      throw new AppError(
        'unknown_tool',
        `Unknown tool: ${JSON.stringify(name).slice(0, 200)}. tools/list names the tools this token may call.`,
      );
    }
    if (!principal.scopes.has(tool.scope)) throw insufficientScope(services.config, tool.scope, principal.scopes, name);
    const admission = services.limiters.toolCalls.take(principal.environmentId);
    if (!admission.ok) throw toolCallLimitError(admission);
    tools.validate(name, input, call.locate);
    const output = await tools.run(name, input, ctx);
    if (signal.aborted) throw signal.reason;
    outcome = { ok: true, output, content: ctx.content ?? [] };
  } catch (thrown) {
    const error = signal.aborted ? cancelled(signal.reason) : toAppError(thrown);
    if (error.status >= 500 && error.code === 'internal_error') {
      services.log.error({ req_id: call.requestId, tool: name, err: thrown }, 'tool failed');
    }
    outcome = { ok: false, error, cancelled: signal.aborted };
  }
  services.audit.record({
    ...auditActor(principal),
    operation: name.slice(0, 200),
    outcome: outcome.ok ? 'ok' : auditOutcomeOf(outcome.error),
    durationMs: performance.now() - started,
    at,
    sql: ctx.audited.sql ?? null,
    detail: ctx.audited.detail ?? null,
  });
  return outcome;
}
