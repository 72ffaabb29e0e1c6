import { STATUS_CODES, type ServerResponse } from 'node:http';
import { ERROR_CODES, type ErrorCode } from '../errors.js';

// Problem documents (RFC 9457, the shape of src/http/problem.ts) for answers given below the Koa app: by the
// connection guards of src/http/slow-clients.ts and src/http/client-connections.ts, which run before a request
// has a Koa context (so there is no request id to quote as `instance`).

function problemText(code: ErrorCode, detail: string): string {
  const { status } = ERROR_CODES[code];
  return JSON.stringify({ type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, code, detail });
}

/** Answers `res` with a problem document (and `headers`). */
export function writeProblem(res: ServerResponse, code: ErrorCode, detail: string, headers: Record<string, string> = {}): void {
  const body = problemText(code, detail);
  res.writeHead(ERROR_CODES[code].status, {
    ...headers,
    'content-type': 'application/problem+json',
    'content-length': String(Buffer.byteLength(body)),
  });
  res.end(body);
}

/** A whole HTTP/1.1 response carrying a problem document, for a socket that no HTTP parser handles. */
export function rawProblemResponse(code: ErrorCode, detail: string, headers: Record<string, string> = {}): string {
  const { status } = ERROR_CODES[code];
  const body = problemText(code, detail);
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Content-Type: application/problem+json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    'Connection: close',
  ];
  return `${head.join('\r\n')}\r\n\r\n${body}`;
}
