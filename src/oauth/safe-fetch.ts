import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { isNonPublicAddress, publicAddressLookup } from '../net/non-public-address.js';

// GET of a URL that someone else chose (client metadata documents), under the SSRF rules of
// src/net/non-public-address.ts (names resolved by us, non-public addresses refused, the socket connected to
// the address checked). No redirects, a deadline, a size cap.

export class SafeFetchError extends Error {
  override name = 'SafeFetchError';
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1']);

export const isLoopbackHost = (hostname: string) => LOOPBACK_NAMES.has(hostname.replace(/^\[|\]$/g, '').toLowerCase());

export interface SafeFetchOptions {
  /** ALLOW_PRIVATE_NETWORK: private and loopback addresses, and plain http to them, are allowed. */
  allowPrivateNetwork: boolean;
  timeoutMs?: number;
  maxBytes?: number;
  accept?: string;
}

export interface SafeFetchResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** GET `url` under the rules above; answers any status (a redirect is not followed; callers refuse it). */
export function safeFetch(url: string, options: SafeFetchOptions): Promise<SafeFetchResponse> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const maxBytes = options.maxBytes ?? 64 * 1024;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return Promise.reject(new SafeFetchError('not a URL'));
  }
  const hostname = parsed.hostname.replace(/^\[|\]$/g, '');
  if (parsed.username || parsed.password) return Promise.reject(new SafeFetchError('URLs with credentials are not fetched'));
  const isHttps = parsed.protocol === 'https:';
  const httpAllowed = parsed.protocol === 'http:' && options.allowPrivateNetwork && isLoopbackHost(hostname);
  if (!isHttps && !httpAllowed) return Promise.reject(new SafeFetchError('only https URLs are fetched'));
  if (net.isIP(hostname) && !options.allowPrivateNetwork && isNonPublicAddress(hostname)) {
    return Promise.reject(new SafeFetchError(`${hostname} is a private or loopback address`));
  }
  const module = isHttps ? https : http;
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      request.destroy();
      reject(error instanceof SafeFetchError ? error : new SafeFetchError(error.message));
    };
    const request = module.request(parsed, {
      method: 'GET',
      headers: { accept: options.accept ?? 'application/json', 'user-agent': 'lakehouse-mcp' },
      lookup: publicAddressLookup(options.allowPrivateNetwork),
      agent: false,
    });
    const deadline = setTimeout(() => fail(new SafeFetchError(`no complete answer within ${timeoutMs} ms`)), timeoutMs);
    request.on('error', fail);
    request.on('response', (response) => {
      const length = Number(response.headers['content-length']);
      if (Number.isFinite(length) && length > maxBytes) return fail(new SafeFetchError(`the answer is larger than ${maxBytes} bytes`));
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) return fail(new SafeFetchError(`the answer is larger than ${maxBytes} bytes`));
        chunks.push(chunk);
      });
      response.on('error', fail);
      response.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) });
      });
    });
    request.end();
  });
}
