import type { AppError } from '../errors.js';

/**
 * A failed tool call as a CallToolResult. The code goes in _meta, not structuredContent: clients validate
 * structuredContent against the tool's output schema even on errors (the SDK's Client does), and an error
 * is not the tool's output.
 */
export function toolErrorResult(error: AppError, requestId: string) {
  const retryAfter = error.code === 'rate_limited' ? Number(error.headers?.['Retry-After']) : undefined;
  const message = error.expose ? error.message : 'Internal error: the tool failed. Quote the request id when reporting it.';
  return {
    content: [{ type: 'text', text: message }],
    isError: true,
    _meta: {
      'lakehouse-mcp/error': {
        code: error.code,
        ...(error.violations ? { violations: error.violations } : {}),
        ...error.sql,
        ...(retryAfter === undefined ? {} : { retry_after: retryAfter }),
        request_id: requestId,
      },
    },
  };
}
