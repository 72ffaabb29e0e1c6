import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode } from './json-rpc.js';

/**
 * The MCP revisions this server speaks, newest first. All of them are stateless-friendly streamable HTTP;
 * 2024-11-05 (HTTP+SSE) is not offered.
 */
export const PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26'] as const satisfies readonly string[];
export type ProtocolVersion = (typeof PROTOCOL_VERSIONS)[number];

/** A request without `MCP-Protocol-Version` is taken to be 2025-03-26 (transports spec, "Protocol Version Header"). */
export const DEFAULT_HEADER_VERSION: ProtocolVersion = '2025-03-26';

export const isProtocolVersion = (value: string): value is ProtocolVersion => (PROTOCOL_VERSIONS as readonly string[]).includes(value);

/** initialize: the client's version when we speak it, else our newest (the client then decides). */
export function negotiate(requested: string): ProtocolVersion {
  return isProtocolVersion(requested) ? requested : PROTOCOL_VERSIONS[0];
}

/** Server-defined JSON-RPC code for errors of the HTTP layer (as the SDK's own transport uses). */
export const HTTP_LAYER_ERROR = -32000;

export { ErrorCode };

export interface JsonRpcErrorBody {
  jsonrpc: '2.0';
  id: RequestId | null;
  error: { code: number; message: string; data?: unknown };
}

export function jsonRpcError(id: RequestId | null, code: number, message: string, data?: unknown): JsonRpcErrorBody {
  return { jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } };
}

/** A message as we send it: JSON text, built once. */
export const serialize = (message: JSONRPCMessage | JsonRpcErrorBody): string => JSON.stringify(message);

/** `{"jsonrpc":"2.0","id":…,"result":<raw>}` around a result that is already JSON text (precomputed bytes). */
export const resultWithRawJson = (id: RequestId, rawResult: string): string =>
  `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${rawResult}}`;
