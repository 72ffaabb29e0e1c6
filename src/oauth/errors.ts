import type { Context } from 'koa';
import { DATABASE_RETRY_AFTER_SECONDS, DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from '../db/unavailable.js';

/**
 * An OAuth error (RFC 6749 §5.2, RFC 7591 §3.2.2, RFC 7009, RFC 7662): answered as `{error, error_description}`
 * JSON by the OAuth endpoints, never as a problem document.
 */
export class OAuthError extends Error {
  override name = 'OAuthError';
  constructor(
    readonly error: string,
    readonly description: string,
    readonly status = 400,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
  }
}

export const invalidRequest = (description: string) => new OAuthError('invalid_request', description);
export const invalidGrant = (description: string) => new OAuthError('invalid_grant', description);
export const invalidScope = (description: string) => new OAuthError('invalid_scope', description);
export const invalidTarget = (description: string) => new OAuthError('invalid_target', description);
export const unauthorizedClient = (description: string) => new OAuthError('unauthorized_client', description);

/** 401 invalid_client; with a Basic challenge when the client tried HTTP Basic (RFC 6749 §5.2). */
export const invalidClient = (description: string, basic = false) =>
  new OAuthError('invalid_client', description, 401, basic ? { 'WWW-Authenticate': 'Basic realm="oauth", charset="UTF-8"' } : {});

export function sendOAuthError(ctx: Context, error: OAuthError): void {
  ctx.status = error.status;
  for (const [name, value] of Object.entries(error.headers)) ctx.set(name, value);
  ctx.set('Cache-Control', 'no-store');
  ctx.type = 'application/json';
  ctx.body = { error: error.error, error_description: error.description };
}

/** Runs an OAuth JSON endpoint: OAuthErrors become RFC 6749 bodies; anything else goes to the app's error handler. */
export async function oauthJson(ctx: Context, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (error instanceof OAuthError) return sendOAuthError(ctx, error);
    if (isDatabaseUnavailable(error)) {
      return sendOAuthError(
        ctx,
        new OAuthError('temporarily_unavailable', DATABASE_UNAVAILABLE_MESSAGE, 503, {
          'Retry-After': String(DATABASE_RETRY_AFTER_SECONDS),
        }),
      );
    }
    // raw-body's own errors (too large, aborted) carry a status: keep them OAuth-shaped too.
    const status = (error as { status?: unknown }).status;
    if (status === 413) return sendOAuthError(ctx, new OAuthError('invalid_request', 'The request body is too large.', 413));
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return sendOAuthError(ctx, new OAuthError('invalid_request', 'The request body could not be read.', 400));
    }
    throw error;
  }
}
