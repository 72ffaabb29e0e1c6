import net from 'node:net';
import { isLoopbackHost } from './safe-fetch.js';

export const MAX_REDIRECT_URIS = 20;
export const MAX_REDIRECT_URI_LENGTH = 2048;

/** Schemes that never name an app to return to, or that run code in the browser. */
const FORBIDDEN_SCHEMES = new Set([
  'javascript:',
  'data:',
  'vbscript:',
  'file:',
  'blob:',
  'about:',
  'filesystem:',
  'ftp:',
  'ws:',
  'wss:',
  'mailto:',
  'tel:',
]);

/** The loopback hosts a redirect URI may name, as written (RFC 8252 §7.3, and `localhost` for the tools that use it). */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * The authority and host as written, before WHATWG parsing rewrites them (`http://127.1` becomes 127.0.0.1 and
 * `https://@host` drops its empty userinfo): undefined when the URI has no `scheme://` authority.
 */
function writtenAuthority(uri: string): { authority: string; host: string } | undefined {
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(uri)?.[1];
  if (authority === undefined) return undefined;
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  const host = hostPort.startsWith('[') ? hostPort.slice(0, hostPort.indexOf(']') + 1) : hostPort.replace(/:[^:]*$/, '');
  return { authority, host };
}

/** The same URI with its host written as the URL parser understood it. */
const withHost = (uri: string, written: string, host: string) => uri.replace(`//${written}`, `//${host}`);

/**
 * Why a redirect URI cannot be registered, or undefined when it can: an absolute URL without a fragment; https,
 * or http on a loopback host (RFC 8252 §7.3); or a native app's private-use scheme (RFC 8252 §7.1, e.g.
 * `cursor://…`). Never `javascript:`, `data:` and the like. Matching at /authorize is exact, character for character,
 * so hosts are judged as written: no user information in any scheme, and an IP address or loopback host only in
 * its one usual spelling (`127.1`, `0x7f.0.0.1`, `2130706433` and `[0:0:0:0:0:0:0:1]` all name loopback too).
 */
export function redirectUriProblem(uri: unknown): string | undefined {
  if (typeof uri !== 'string' || uri === '') return 'must be a non-empty string';
  if (uri.length > MAX_REDIRECT_URI_LENGTH) return `must be at most ${MAX_REDIRECT_URI_LENGTH} characters`;
  if (uri.includes('#')) return 'must not have a fragment';
  if (/[\s\\<>"]/.test(uri)) return 'must not contain spaces, backslashes, quotes or angle brackets';
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'must be an absolute URL';
  }
  if (FORBIDDEN_SCHEMES.has(url.protocol)) return `must not use the ${url.protocol} scheme`;
  const written = writtenAuthority(uri);
  if (url.username || url.password || written?.authority.includes('@'))
    return 'must not contain user information (a "user:password@" part): remove it';
  if (url.protocol === 'https:' || url.protocol === 'http:') {
    if (!written) return `must be written ${url.protocol}//host/path`;
    const loopback = isLoopbackHost(url.hostname);
    if (url.protocol === 'http:' && !loopback) return 'must use https (plain http only on a loopback host: localhost, 127.0.0.1, [::1])';
    if (loopback && !LOOPBACK_HOSTS.has(written.host)) {
      return `must name its loopback host as 127.0.0.1, [::1] or localhost (RFC 8252 §7.3): register ${JSON.stringify(withHost(uri, written.host, url.hostname))} instead`;
    }
    if (net.isIP(url.hostname.replace(/^\[|\]$/g, '')) && written.host !== url.hostname) {
      return `must write its IP address in the usual form: register ${JSON.stringify(withHost(uri, written.host, url.hostname))} instead`;
    }
    return undefined;
  }
  // A private-use scheme of a native app: something of its own, not a web scheme.
  if (!/^[a-z][a-z0-9+.-]*:$/.test(url.protocol)) return 'has an invalid scheme';
  return undefined;
}

/** The origin (or scheme) a browser is sent to, for the consent page's form-action and "redirects to" line. */
export function redirectTarget(uri: string): { display: string; cspSource: string } {
  const url = new URL(uri);
  if (url.protocol === 'http:' || url.protocol === 'https:') return { display: url.host, cspSource: url.origin };
  return { display: `${url.protocol}//${url.host}`, cspSource: url.protocol };
}
