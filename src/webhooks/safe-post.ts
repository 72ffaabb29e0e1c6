import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { isNonPublicAddress, publicAddressLookup, UnsafeUrlError } from '../net/non-public-address.js';

// Webhook requests go to URLs an admin typed, from inside our network, under the SSRF rules of
// src/net/non-public-address.ts (names resolved by us, non-public addresses refused, the socket connected to
// the address checked). No redirects, a deadline, a cap on the answer read. ALLOW_PRIVATE_NETWORK=1 lifts the
// address rule and allows plain http (tests, private deployments).

/** Checks a webhook URL's form (absolute, https unless private networks are allowed, no credentials). */
export function checkWebhookUrl(raw: string, allowPrivateNetwork: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UnsafeUrlError(`not an absolute URL: ${raw}`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowPrivateNetwork)) {
    throw new UnsafeUrlError('webhook URLs must use https (http only with ALLOW_PRIVATE_NETWORK=1)');
  }
  if (url.username || url.password) throw new UnsafeUrlError('webhook URLs must not hold credentials; the signature authenticates us');
  if (url.hash) throw new UnsafeUrlError('webhook URLs must not have a #fragment');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(host) && !allowPrivateNetwork && isNonPublicAddress(host)) {
    throw new UnsafeUrlError(`${host} is not a public address (set ALLOW_PRIVATE_NETWORK=1 for private deployments)`);
  }
  return url;
}

export interface PostResult {
  status: number;
  /** At most `maxBytes` of the answer, for the delivery's last_error. */
  body: string;
}

export interface SafePostOptions {
  allowPrivateNetwork: boolean;
  headers: Record<string, string>;
  timeoutMs: number;
  maxBytes?: number;
}

/** POSTs `body` to `url` under the rules above. Resolves with any HTTP status; rejects on network errors. */
export function safePost(rawUrl: string, body: string, options: SafePostOptions): Promise<PostResult> {
  const maxBytes = options.maxBytes ?? 64 * 1024;
  let url: URL;
  try {
    url = checkWebhookUrl(rawUrl, options.allowPrivateNetwork);
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
  const module = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | undefined, result?: PostResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      request.destroy();
      if (error) reject(error);
      else if (result) resolve(result);
    };
    const request = module.request(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        'user-agent': 'lakehouse-mcp-webhooks',
        ...options.headers,
      },
      lookup: publicAddressLookup(options.allowPrivateNetwork),
      agent: false,
    });
    const deadline = setTimeout(() => finish(new Error(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    request.on('error', (error) => finish(error));
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const status = response.statusCode ?? 0;
      const done = () => finish(undefined, { status, body: Buffer.concat(chunks).toString('utf8') });
      response.on('data', (chunk: Buffer) => {
        // Only the start of the answer matters (for last_error); stop reading past the cap.
        if (size < maxBytes) chunks.push(chunk.subarray(0, maxBytes - size));
        size += chunk.length;
        if (size >= maxBytes) done();
      });
      response.on('error', (error) => finish(error));
      response.on('end', done);
    });
    request.end(body);
  });
}
