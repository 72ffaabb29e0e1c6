import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

// Server-side requests to URLs that someone else chose (client metadata documents; webhooks may reuse it):
// resolve the name ourselves, refuse private, loopback, link-local, multicast and unspecified addresses, and
// connect to exactly the address we checked (the `lookup` hook is the resolution the socket uses, so a DNS
// answer cannot change between the check and the connection). No redirects, a deadline, a size cap.

export class SafeFetchError extends Error {
  override name = 'SafeFetchError';
}

const blocked = new net.BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata endpoints
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  blocked.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128],
  ['64:ff9b::', 96], // NAT64: may reach IPv4 private space
  ['64:ff9b:1::', 48],
  ['100::', 64], // discard
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4: embeds any IPv4 address
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) {
  blocked.addSubnet(network, prefix, 'ipv6');
}

/** The IPv4 address inside an IPv4-mapped or -compatible IPv6 address (`::ffff:127.0.0.1`, `::ffff:7f00:1`, `::7f00:1`). */
function embeddedIpv4(address: string): string | undefined {
  let normalized: string;
  try {
    normalized = new URL(`http://[${address}]`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const match = /^::(?:ffff:)?([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(normalized);
  if (!match) return undefined;
  const hi = parseInt(match[1] ?? '0', 16);
  const lo = parseInt(match[2] ?? '0', 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** True for addresses a server-side request must not reach unless private networks are allowed. */
export function isPrivateAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family === 6) {
    const v4 = embeddedIpv4(address);
    if (v4) return blocked.check(v4, 'ipv4');
    return blocked.check(address, 'ipv6');
  }
  return true;
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

function checkedLookup(allowPrivate: boolean): net.LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { all: true, family: options.family ?? 0 }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const refused = addresses.find((a) => isPrivateAddress(a.address));
      if (!allowPrivate && refused) {
        return callback(new SafeFetchError(`${hostname} resolves to a private or loopback address (${refused.address})`), '', 0);
      }
      const first = addresses[0];
      if (!first) return callback(new SafeFetchError(`${hostname} has no address`), '', 0);
      // Node asks for every address when it races families (autoSelectFamily); all of them were checked.
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, addresses);
      callback(null, first.address, first.family);
    });
  };
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
  if (net.isIP(hostname) && !options.allowPrivateNetwork && isPrivateAddress(hostname)) {
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
      lookup: checkedLookup(options.allowPrivateNetwork),
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
