import type {
  CallToolRequestParams,
  InitializeRequestParams,
  JSONRPCMessage,
  LoggingLevel,
  RequestId,
} from '@modelcontextprotocol/sdk/types.js';

/**
 * The shape checks the endpoint needs, written out so the server never loads the SDK's zod schemas (about a
 * tenth of its start-up). They accept exactly what the SDK's schemas accept for these messages; the unit test
 * test/unit/json-rpc.test.ts holds them to the SDK's verdicts on valid and hostile messages alike.
 */

/** JSON-RPC 2.0's error codes (the SDK's `ErrorCode` values). */
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
} as const;

/** MCP's log levels, least severe first. */
export const LOGGING_LEVELS = [
  'debug',
  'info',
  'notice',
  'warning',
  'error',
  'critical',
  'alert',
  'emergency',
] as const satisfies readonly LoggingLevel[];

export const isLoggingLevel = (value: unknown): value is LoggingLevel => (LOGGING_LEVELS as readonly unknown[]).includes(value);

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
/** Integers as zod's `int()` takes them: safe integers only. */
const isRequestId = (value: unknown): value is RequestId => typeof value === 'string' || Number.isSafeInteger(value);
const hasOnly = (value: Json, keys: readonly string[]) => Object.keys(value).every((key) => keys.includes(key));

/** `_meta` of a request or notification: loose, but its known keys typed. */
function isRequestMeta(meta: unknown): boolean {
  if (meta === undefined) return true;
  if (!isObject(meta)) return false;
  if (meta.progressToken !== undefined && !isRequestId(meta.progressToken)) return false;
  const related = meta['io.modelcontextprotocol/related-task'];
  return related === undefined || (isObject(related) && typeof related.taskId === 'string');
}

const isParams = (params: unknown) => params === undefined || (isObject(params) && isRequestMeta(params._meta));

/** One JSON-RPC 2.0 message (request, notification, result or error), or undefined when it is none. */
export function asJsonRpcMessage(raw: unknown): JSONRPCMessage | undefined {
  if (!isObject(raw) || raw.jsonrpc !== '2.0') return undefined;
  if ('method' in raw) {
    if (typeof raw.method !== 'string' || !isParams(raw.params)) return undefined;
    if (!('id' in raw)) return hasOnly(raw, ['jsonrpc', 'method', 'params']) ? (raw as JSONRPCMessage) : undefined;
    return isRequestId(raw.id) && hasOnly(raw, ['jsonrpc', 'id', 'method', 'params']) ? (raw as JSONRPCMessage) : undefined;
  }
  if ('result' in raw) {
    const ok = isRequestId(raw.id) && isObject(raw.result) && isRequestMeta(raw.result._meta) && hasOnly(raw, ['jsonrpc', 'id', 'result']);
    return ok ? (raw as JSONRPCMessage) : undefined;
  }
  const { error } = raw;
  const ok =
    (raw.id === undefined || isRequestId(raw.id)) &&
    isObject(error) &&
    Number.isSafeInteger(error.code) &&
    typeof error.message === 'string' &&
    hasOnly(raw, ['jsonrpc', 'id', 'error']);
  return ok ? (raw as JSONRPCMessage) : undefined;
}

/** A check of a method's params: the typed params, or what is wrong with them. */
export type ParamsCheck<T> = { ok: true; params: T } | { ok: false; problem: string };

const problem = (text: string): { ok: false; problem: string } => ({ ok: false, problem: text });

/** initialize: the client's revision, capabilities and identity. */
export function initializeParams(params: unknown): ParamsCheck<InitializeRequestParams> {
  if (!isObject(params)) return problem('params: initialize needs protocolVersion, capabilities and clientInfo');
  if (typeof params.protocolVersion !== 'string') return problem('params.protocolVersion: expected a string');
  if (!isObject(params.capabilities)) return problem('params.capabilities: expected an object');
  const { clientInfo } = params;
  if (!isObject(clientInfo) || typeof clientInfo.name !== 'string' || typeof clientInfo.version !== 'string') {
    return problem('params.clientInfo: expected an object with a name and a version');
  }
  return { ok: true, params: params as unknown as InitializeRequestParams };
}

/** tools/call: a tool name, its arguments as an object, and the request's `_meta`. */
export function callToolParams(params: unknown): ParamsCheck<CallToolRequestParams> {
  if (!isObject(params)) return problem('params: expected an object with the tool name');
  const problems: string[] = [];
  if (typeof params.name !== 'string') problems.push('params.name: expected a string');
  if (params.arguments !== undefined && !isObject(params.arguments)) problems.push('params.arguments: expected an object');
  if (!isRequestMeta(params._meta)) problems.push('params._meta: expected an object (progressToken a string or an integer)');
  if (params.task !== undefined && !(isObject(params.task) && (params.task.ttl === undefined || typeof params.task.ttl === 'number'))) {
    problems.push('params.task: expected an object');
  }
  return problems.length ? problem(problems.join('; ')) : { ok: true, params: params as unknown as CallToolRequestParams };
}

/** logging/setLevel: one of MCP's levels. */
export function setLevelParams(params: unknown): ParamsCheck<{ level: LoggingLevel }> {
  if (!isObject(params) || !isLoggingLevel(params.level)) return problem(`level must be one of ${LOGGING_LEVELS.join(', ')}`);
  return { ok: true, params: { level: params.level } };
}

/** notifications/cancelled: which request, and why. */
export function cancelledParams(params: unknown): ParamsCheck<{ requestId: RequestId | undefined; reason: string | undefined }> {
  if (!isObject(params)) return problem('params: expected an object');
  const { requestId, reason } = params;
  if (requestId !== undefined && !isRequestId(requestId)) return problem('params.requestId: expected a string or an integer');
  if (reason !== undefined && typeof reason !== 'string') return problem('params.reason: expected a string');
  return { ok: true, params: { requestId, reason } };
}
