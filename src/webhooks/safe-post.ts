import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

// Webhook requests go to URLs an admin typed, from inside our network: resolve the name ourselves, refuse
// private, loopback, link-local, multicast and unspecified addresses (IPv4-mapped IPv6 included), and let the
// socket connect to exactly the address that was checked (the `lookup` hook is the resolution it uses, so a
// second DNS answer cannot swap in another address). No redirects, a deadline, a cap on the answer read.
// ALLOW_PRIVATE_NETWORK=1 lifts the address rule and allows plain http (tests, private deployments).
// (src/oauth/safe-fetch.ts has the same rules for GET; the two may be merged.)

export class UnsafeUrlError extends Error {
  override name = 'UnsafeUrlError';
}

const blocked = new net.BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  blocked.addSubnet(network, prefix, 'ipv6');
}

/** The IPv4 address inside an IPv4-mapped or -compatible IPv6 address. */
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

/** True for an address a webhook must not reach unless private networks are allowed (and for non-addresses). */
export function isNonPublicAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family === 6) {
    const v4 = embeddedIpv4(address);
    return v4 ? blocked.check(v4, 'ipv4') : blocked.check(address, 'ipv6');
  }
  return true;
}

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

/** Resolves a host and refuses it when any of its addresses is not public. */
export async function resolvePublic(hostname: string, allowPrivateNetwork: boolean): Promise<dns.LookupAddress[]> {
  const host = hostname.replace(/^\[|\]$/g, '');
  const addresses = net.isIP(host) ? [{ address: host, family: net.isIP(host) }] : await dns.promises.lookup(host, { all: true });
  if (addresses.length === 0) throw new UnsafeUrlError(`${host} has no address`);
  const refused = addresses.find((a) => isNonPublicAddress(a.address));
  if (refused && !allowPrivateNetwork) {
    throw new UnsafeUrlError(`${host} resolves to ${refused.address}, which is not a public address (set ALLOW_PRIVATE_NETWORK=1 for private deployments)`);
  }
  return addresses;
}

function checkedLookup(allowPrivateNetwork: boolean): net.LookupFunction {
  return (hostname, options, callback) => {
    resolvePublic(hostname, allowPrivateNetwork).then(
      (addresses) => {
        const family = options.family === 4 || options.family === 6 ? options.family : 0;
        const usable = family ? addresses.filter((a) => a.family === family) : addresses;
        const first = usable[0];
        if (!first) return callback(new UnsafeUrlError(`${hostname} has no IPv${family} address`), '', 0);
        if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, usable);
        callback(null, first.address, first.family);
      },
      (error: unknown) => callback(error as NodeJS.ErrnoException, '', 0),
    );
  };
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
      lookup: checkedLookup(options.allowPrivateNetwork),
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
