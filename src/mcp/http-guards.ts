/**
 * Checks of the HTTP layer of /v1 that the MCP SDK does not do by default: Host (DNS rebinding), Origin,
 * Accept and Content-Type. Each answers true when the request may go on.
 */

const LOOPBACK_HOSTNAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

const effectivePort = (url: URL) => url.port || (url.protocol === 'https:' ? '443' : '80');

function parseHost(protocol: string, host: string): URL | undefined {
  if (!host || /[/?#@\s\\]/.test(host)) return undefined;
  try {
    return new URL(`${protocol}//${host}`);
  } catch {
    return undefined;
  }
}

/**
 * The Host a request may carry: PUBLIC_URL's. When PUBLIC_URL is a loopback name, any loopback spelling
 * (localhost, 127.0.0.1, [::1]) with the same port is the same server, so those pass too. Anything else is
 * how a DNS-rebinding page reaches a local server, and is refused.
 */
export function hostChecker(publicUrl: string): (host: string) => boolean {
  const expected = new URL(publicUrl);
  const loopback = LOOPBACK_HOSTNAMES.has(expected.hostname);
  const port = effectivePort(expected);
  return (host) => {
    const given = parseHost(expected.protocol, host);
    if (!given || effectivePort(given) !== port) return false;
    return given.hostname === expected.hostname || (loopback && LOOPBACK_HOSTNAMES.has(given.hostname));
  };
}

/** An absent Origin passes (not a browser); a present one must be allowed (loopback spellings as for Host). */
export function originChecker(allowedOrigins: readonly string[]): (origin: string | undefined) => boolean {
  const allowed = new Set(allowedOrigins);
  const loopbackAllowed = new Set(
    allowedOrigins.flatMap((o) => {
      const url = new URL(o);
      return LOOPBACK_HOSTNAMES.has(url.hostname) ? [`${url.protocol}${effectivePort(url)}`] : [];
    }),
  );
  return (origin) => {
    if (origin === undefined) return true;
    if (allowed.has(origin)) return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    if (url.origin !== origin && `${url.origin}/` !== origin) return false;
    return LOOPBACK_HOSTNAMES.has(url.hostname) && loopbackAllowed.has(`${url.protocol}${effectivePort(url)}`);
  };
}

/** The media types an Accept header lists (without parameters; q=0 entries dropped). */
function acceptedTypes(accept: string): Set<string> {
  const types = new Set<string>();
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    if (params.some((p) => /^q\s*=\s*0(\.0*)?$/.test(p))) continue;
    if (type) types.add(type);
  }
  return types;
}

/** Streamable HTTP: the client MUST list both application/json and text/event-stream. */
export function acceptsJsonAndSse(accept: string | undefined): boolean {
  if (!accept) return false;
  const types = acceptedTypes(accept);
  return types.has('application/json') && types.has('text/event-stream');
}

/** application/json, with or without parameters (charset). */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  return contentType.split(';')[0]?.trim().toLowerCase() === 'application/json';
}
