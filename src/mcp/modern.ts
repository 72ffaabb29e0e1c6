import type { JSONRPCRequest, LoggingLevel, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { isLoggingLevel, LOGGING_LEVELS } from './json-rpc.js';
import { httpError } from './http-reply.js';
import { ErrorCode } from './protocol.js';

// MCP 2026-07-28 ("modern"), served beside the initialize-based revisions ("legacy") on the same endpoint:
// a modern request carries its version, client capabilities and options in `params._meta` and its method
// (and tool name) in headers, and is answered on its own (basic/versioning, basic/index, transports/streamable-http).

/** The modern revisions this server speaks, newest first. */
export const MODERN_VERSIONS = ['2026-07-28'] as const;
export type ModernVersion = (typeof MODERN_VERSIONS)[number];

/** The reserved `_meta` keys of the revision. */
export const META = {
  protocolVersion: 'io.modelcontextprotocol/protocolVersion',
  clientCapabilities: 'io.modelcontextprotocol/clientCapabilities',
  clientInfo: 'io.modelcontextprotocol/clientInfo',
  logLevel: 'io.modelcontextprotocol/logLevel',
  serverInfo: 'io.modelcontextprotocol/serverInfo',
  subscriptionId: 'io.modelcontextprotocol/subscriptionId',
} as const;

/** The revision's own JSON-RPC codes (-32020 on; it calls -32000…-32019 legacy and asks not to use them). */
export const MODERN_ERROR = {
  headerMismatch: -32020,
  missingRequiredClientCapability: -32021,
  unsupportedProtocolVersion: -32022,
} as const;

/**
 * The JSON-RPC code of an error of the HTTP layer (auth, Origin, Accept, size, …): legacy clients know
 * -32000 (as the SDK's transport sends it); modern ones get the standard codes.
 */
export function transportErrorCode(modern: boolean, status: number): number {
  if (!modern) return -32000;
  return status >= 500 ? ErrorCode.InternalError : ErrorCode.InvalidRequest;
}

const DATE_VERSION = /^\d{4}-\d{2}-\d{2}$/;

/** A version header that names a modern revision (dates compare as strings), supported or not. */
export const isModernVersionHeader = (header: string): boolean => DATE_VERSION.test(header) && header >= MODERN_VERSIONS[0];

export const isSupportedModernVersion = (version: string): version is ModernVersion =>
  (MODERN_VERSIONS as readonly string[]).includes(version);

const metaOf = (message: unknown): Record<string, unknown> | undefined => {
  const params = (message as { params?: unknown } | null)?.params;
  const meta = typeof params === 'object' && params !== null ? (params as { _meta?: unknown })._meta : undefined;
  return typeof meta === 'object' && meta !== null && !Array.isArray(meta) ? (meta as Record<string, unknown>) : undefined;
};

/** A message claims the modern era by naming its version in `_meta` (the body decides; the header is checked against it). */
export const claimsModern = (message: unknown): boolean => metaOf(message)?.[META.protocolVersion] !== undefined;

const SENTINEL = /^=\?base64\?([A-Za-z0-9+/]*={0,2})\?=$/;

/**
 * A header value as the body would hold it: the `=?base64?…?=` form (for values that are not plain ASCII)
 * decoded; undefined when the form is malformed (not canonical base64, or not UTF-8).
 */
export function decodeHeaderValue(value: string): string | undefined {
  const encoded = SENTINEL.exec(value)?.[1];
  if (encoded === undefined) return value;
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.toString('base64') !== encoded) return undefined;
  const text = new TextDecoder('utf-8', { fatal: true });
  try {
    return text.decode(bytes);
  } catch {
    return undefined;
  }
}

/** What a modern request asks of the server besides its method: its revision and its log level. */
export interface ModernEnvelope {
  protocolVersion: ModernVersion;
  /** Send `notifications/message` at or above this level; none when absent. */
  logLevel: LoggingLevel | undefined;
  /** The extensions the client declares on this request (`clientCapabilities.extensions`), by identifier. */
  extensions: ReadonlySet<string>;
}

/** Methods whose `Mcp-Name` header mirrors a field of the params (the tasks extension's: the task id). */
const NAMED_BY: Record<string, 'name' | 'uri' | 'taskId'> = {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
  'tasks/get': 'taskId',
  'tasks/update': 'taskId',
  'tasks/cancel': 'taskId',
};

type HeaderOf = (name: string) => string;

const mismatch = (id: RequestId, message: string) => httpError(400, MODERN_ERROR.headerMismatch, `Header mismatch: ${message}`, id);

/**
 * The checks of a modern request, in the order the revision's conformance suite expects them: the method
 * header, the version header, whether the method exists (404), the `_meta` envelope (-32602), the version
 * header against `_meta` (-32020), the version (-32022), then `Mcp-Name`. Throws the HTTP answer.
 */
export function checkModernRequest(request: JSONRPCRequest, header: HeaderOf, methods: ReadonlySet<string>): ModernEnvelope {
  const { id, method } = request;
  const methodHeader = header('mcp-method');
  if (!methodHeader) throw mismatch(id, 'the Mcp-Method header is required and must equal the request method.');
  if (methodHeader !== method)
    throw mismatch(id, `Mcp-Method is "${methodHeader.slice(0, 100)}" but the body's method is "${method.slice(0, 100)}".`);
  const versionHeader = header('mcp-protocol-version');
  if (!versionHeader)
    throw mismatch(id, 'the MCP-Protocol-Version header is required and must equal _meta["io.modelcontextprotocol/protocolVersion"].');
  if (!methods.has(method)) {
    throw httpError(
      404,
      ErrorCode.MethodNotFound,
      `Method not found: ${method.slice(0, 100)} (not part of MCP ${MODERN_VERSIONS[0]} here).`,
      id,
    );
  }

  const meta = metaOf(request) ?? {};
  const invalid = (message: string) => httpError(400, ErrorCode.InvalidParams, `Invalid params: ${message}`, id);
  const version = meta[META.protocolVersion];
  if (typeof version !== 'string') throw invalid(`params._meta["${META.protocolVersion}"] is required (a string).`);
  const capabilities = meta[META.clientCapabilities];
  if (typeof capabilities !== 'object' || capabilities === null || Array.isArray(capabilities)) {
    throw invalid(`params._meta["${META.clientCapabilities}"] is required (an object; {} declares none).`);
  }
  const logLevel = meta[META.logLevel];
  if (logLevel !== undefined && !isLoggingLevel(logLevel)) {
    throw invalid(`params._meta["${META.logLevel}"] must be one of ${LOGGING_LEVELS.join(', ')}.`);
  }
  if (versionHeader !== version) {
    throw mismatch(id, `MCP-Protocol-Version is "${versionHeader.slice(0, 40)}" but _meta names "${version.slice(0, 40)}".`);
  }
  if (!isSupportedModernVersion(version)) {
    throw httpError(400, MODERN_ERROR.unsupportedProtocolVersion, 'Unsupported protocol version', id, undefined, {
      supported: [...MODERN_VERSIONS],
      requested: version,
    });
  }

  const field = NAMED_BY[method];
  const named = field ? (request.params as Record<string, unknown> | undefined)?.[field] : undefined;
  if (typeof named === 'string') {
    const nameHeader = header('mcp-name');
    if (!nameHeader) throw mismatch(id, `the Mcp-Name header is required on ${method} and must equal params.${field}.`);
    const decoded = decodeHeaderValue(nameHeader);
    if (decoded === undefined) throw mismatch(id, 'Mcp-Name is not valid =?base64?…?= (canonical base64 of UTF-8).');
    if (decoded !== named) throw mismatch(id, `Mcp-Name is "${decoded.slice(0, 100)}" but params.${field} is "${named.slice(0, 100)}".`);
  }
  const declared = (capabilities as { extensions?: unknown }).extensions;
  const extensions = new Set(typeof declared === 'object' && declared !== null && !Array.isArray(declared) ? Object.keys(declared) : []);
  return { protocolVersion: version, logLevel, extensions };
}
