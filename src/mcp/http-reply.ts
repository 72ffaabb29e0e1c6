import type { RequestId } from '@modelcontextprotocol/sdk/types.js';
import { jsonRpcError, serialize } from './protocol.js';

/** An answer of the HTTP layer that carries a JSON-RPC error body (thrown, and written by createMcpEndpoint). */
export class HttpReply extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(`HTTP ${status}`);
  }
}

export const httpError = (
  status: number,
  code: number,
  message: string,
  id: RequestId | null = null,
  headers?: Record<string, string>,
  data?: unknown,
) => new HttpReply(status, serialize(jsonRpcError(id, code, message, data)), headers);
