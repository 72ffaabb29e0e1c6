import type { Context } from 'koa';
import type { BrowserSession } from '../oauth/browser-session.js';
import type { OAuthServer } from '../oauth/oauth-server.js';

/** `next` when it is a path on this server (not `//host`, not `/\host`), else `fallback`. */
export function localPath(next: string | undefined, fallback: string): string {
  if (!next || next.length > 2048 || !/^\/(?![/\\])[\x21-\x7e]*$/.test(next)) return fallback;
  return next;
}

/**
 * The browser session of a page that needs a signed-in person (`/account/apps`, `/dashboards/{id}`): the
 * session, or undefined after answering a 303 redirect to the sign-in page, which returns here afterwards.
 *
 *   const session = await requireSession(ctx, oauth);
 *   if (!session) return;
 */
export async function requireSession(ctx: Context, oauth: OAuthServer): Promise<BrowserSession | undefined> {
  const session = await oauth.sessions.current(ctx);
  if (session) return session;
  const next = localPath(ctx.originalUrl, `${oauth.issuerPath}/account/apps`);
  ctx.set('Cache-Control', 'no-store');
  ctx.status = 303;
  ctx.redirect(`${oauth.config.issuerUrl}/account/sign-in?next=${encodeURIComponent(next)}`);
  return undefined;
}
