import type { RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { ToolIO, ToolName } from '../generated/handlers.js';
import type { Services } from '../operations/context.js';
import { invokeTool } from '../operations/invoke-tool.js';
import { generatedTools } from '../operations/tool-registry.js';
import type { Principal } from '../oauth/principal.js';
import { httpError } from './http-reply.js';
import { transportErrorCode } from './modern.js';
import { ErrorCode } from './protocol.js';

// Resources, prompts and completions read the environment's data through the tools they stand for
// (get_connection, view_insight, …), via invokeTool: the token's scope, TOOL_CALL_LIMIT, input validation and
// the audit trail apply to them exactly as to a tools/call, and they see only the token's environment.

/** One request of resources/*, prompts/* or completion/complete: who asks, and how to answer. */
export interface FeatureCall {
  services: Services;
  principal: Principal;
  requestId: string;
  /** The JSON-RPC id, for errors of the HTTP layer (a missing scope). */
  id: RequestId;
  signal: AbortSignal;
  modern: boolean;
  protocolVersion: string;
}

/** A JSON-RPC error of the method itself (HTTP 200). */
export class FeatureError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

export const invalidParams = (message: string, data?: unknown) => new FeatureError(ErrorCode.InvalidParams, message, data);

/**
 * Runs one tool for the request and answers its output. Something that does not exist (or whose name is
 * malformed) is -32602, a missing scope the same HTTP 403 as tools/call, anything else -32603 with the
 * error's code in `data`.
 */
export async function runTool<N extends ToolName>(call: FeatureCall, name: N, input: ToolIO[N]['arguments']): Promise<ToolIO[N]['output']> {
  const outcome = await invokeTool(call.services, generatedTools, name, input, {
    principal: call.principal,
    requestId: call.requestId,
    signal: call.signal,
    locate: 'input',
    protocolVersion: call.protocolVersion,
  });
  if (outcome.ok) return outcome.output as ToolIO[N]['output'];
  const { error } = outcome;
  if (error.code === 'insufficient_scope')
    throw httpError(403, transportErrorCode(call.modern, 403), `Forbidden: ${error.message}`, call.id, error.headers);
  if (outcome.cancelled) throw new FeatureError(transportErrorCode(call.modern, 499), error.message);
  if (error.code === 'not_found' || error.code === 'validation_failed') throw invalidParams(error.message);
  const retryAfter = error.headers?.['Retry-After'] === undefined ? undefined : Number(error.headers['Retry-After']);
  throw new FeatureError(
    ErrorCode.InternalError,
    error.expose ? error.message : 'Internal error. Quote the request id when reporting it.',
    {
      code: error.code,
      request_id: call.requestId,
      ...(retryAfter === undefined ? {} : { retry_after: retryAfter }),
    },
  );
}
