import type { Context } from 'koa';
import getRawBody from 'raw-body';
import { OAuthError, invalidRequest } from './errors.js';

/** Form bodies of the OAuth endpoints are small; 64 KiB leaves room and refuses junk early. */
export const FORM_BODY_LIMIT = 64 * 1024;

/**
 * Parses an application/x-www-form-urlencoded body (WHATWG URLSearchParams, no library). A parameter sent
 * twice is refused (RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once").
 */
export function parseForm(text: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of new URLSearchParams(text)) {
    if (name in out) throw invalidRequest(`The parameter "${name.slice(0, 64)}" is repeated; send each parameter once.`);
    out[name] = value;
  }
  return out;
}

/** Reads the form body of an OAuth endpoint: 415 for another content type, 413 past the limit. */
export async function readForm(ctx: Context): Promise<Record<string, string>> {
  if (!ctx.request.is('application/x-www-form-urlencoded')) {
    throw new OAuthError('invalid_request', 'Send the request as application/x-www-form-urlencoded.', 415);
  }
  const text = await getRawBody(ctx.req, { limit: FORM_BODY_LIMIT, length: ctx.request.length, encoding: 'utf8' });
  return parseForm(text);
}

/** Query parameters with the same rule (the authorization request, RFC 6749 §3.1). */
export function singleQuery(ctx: Context): Record<string, string> {
  const raw = ctx.querystring;
  return parseForm(raw);
}
