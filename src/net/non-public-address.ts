import dns from 'node:dns';
import net from 'node:net';

// One SSRF defence for every outbound request the server makes to a URL someone else chose (client metadata
// documents, webhooks): a block list of addresses that are not public, and name resolution that refuses
// them, used as the request's own `lookup` so that the address checked is the address connected to.

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

/**
 * True for an address a server-side request (client metadata documents, webhooks) must not reach unless
 * private networks are allowed: private, loopback, link-local, multicast, reserved, and IPv4 hidden in IPv6.
 * Anything that is not an IP address is refused too.
 */
export function isNonPublicAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family === 6) {
    const v4 = embeddedIpv4(address);
    if (v4) return blocked.check(v4, 'ipv4');
    return blocked.check(address, 'ipv6');
  }
  return true;
}

/** A host the server will not connect to: it is, or resolves to, an address that is not public. */
export class UnsafeUrlError extends Error {
  override name = 'UnsafeUrlError';
}

/** Resolves a host (an IP address stands for itself) and refuses it when any of its addresses is not public. */
export async function resolvePublic(hostname: string, allowPrivateNetwork: boolean): Promise<dns.LookupAddress[]> {
  const host = hostname.replace(/^\[|\]$/g, '');
  const addresses = net.isIP(host) ? [{ address: host, family: net.isIP(host) }] : await dns.promises.lookup(host, { all: true });
  if (addresses.length === 0) throw new UnsafeUrlError(`${host} has no address`);
  const refused = addresses.find((a) => isNonPublicAddress(a.address));
  if (refused && !allowPrivateNetwork) {
    throw new UnsafeUrlError(
      `${host} resolves to ${refused.address}, which is not a public address (a private or loopback address, or one otherwise reserved; set ALLOW_PRIVATE_NETWORK=1 for private deployments)`,
    );
  }
  return addresses;
}

/**
 * The `lookup` of an outbound http(s) request: connects only to addresses resolvePublic admits, checked at
 * connect time (a name cannot be switched to a private address between a check and the connection).
 */
export function publicAddressLookup(allowPrivateNetwork: boolean): net.LookupFunction {
  return (hostname, options, callback) => {
    resolvePublic(hostname, allowPrivateNetwork).then(
      (addresses) => {
        const family = options.family === 4 || options.family === 6 ? options.family : 0;
        const usable = family ? addresses.filter((a) => a.family === family) : addresses;
        const first = usable[0];
        if (!first) return callback(new UnsafeUrlError(`${hostname} has no IPv${family} address`), '', 0);
        // Node asks for every address when it races families (autoSelectFamily); all of them were checked.
        if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, usable);
        callback(null, first.address, first.family);
      },
      (error: unknown) => callback(error as NodeJS.ErrnoException, '', 0),
    );
  };
}
