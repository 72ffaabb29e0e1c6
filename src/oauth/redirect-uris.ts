import { isLoopbackHost } from './safe-fetch.js';

export const MAX_REDIRECT_URIS = 20;
export const MAX_REDIRECT_URI_LENGTH = 2048;

/** Schemes that never name an app to return to, or that run code in the browser. */
const FORBIDDEN_SCHEMES = new Set(['javascript:', 'data:', 'vbscript:', 'file:', 'blob:', 'about:', 'filesystem:', 'ftp:', 'ws:', 'wss:', 'mailto:', 'tel:']);

/**
 * Why a redirect URI cannot be registered, or undefined when it can: an absolute URL without a fragment; https,
 * or http on a loopback host (RFC 8252 §7.3); or a native app's private-use scheme (RFC 8252 §7.1, e.g.
 * `cursor://…`). Never `javascript:`, `data:` and the like. Matching at /authorize is exact, character for character.
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
  if (url.protocol === 'https:') {
    if (url.username || url.password) return 'must not contain user information';
    return undefined;
  }
  if (url.protocol === 'http:') {
    if (url.username || url.password) return 'must not contain user information';
    if (!isLoopbackHost(url.hostname)) return 'must use https (plain http only on a loopback host: localhost, 127.0.0.1, [::1])';
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
