import { STATUS_CODES, type ServerResponse } from 'node:http';

// Problem documents (RFC 9457, the shape of src/http/problem.ts) for answers given below the Koa app: by the
// connection guards of src/http/slow-clients.ts and src/http/client-connections.ts, which run before a request
// has a Koa context (so there is no request id to quote as `instance`).

export function problemText(status: number, code: string, detail: string): string {
  return JSON.stringify({ type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, code, detail });
}

/** Answers `res` with a problem document (and `headers`). */
export function writeProblem(
  res: ServerResponse,
  status: number,
  code: string,
  detail: string,
  headers: Record<string, string> = {},
): void {
  const body = problemText(status, code, detail);
  res.writeHead(status, { ...headers, 'content-type': 'application/problem+json', 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

/** A whole HTTP/1.1 response carrying a problem document, for a socket that no HTTP parser handles. */
export function rawProblemResponse(status: number, code: string, detail: string, headers: Record<string, string> = {}): string {
  const body = problemText(status, code, detail);
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Content-Type: application/problem+json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    'Connection: close',
  ];
  return `${head.join('\r\n')}\r\n\r\n${body}`;
}
