import type { Context } from 'koa';

/**
 * Answers one of our server-rendered pages: no caching, no framing, and its own Content-Security-Policy
 * (replacing the app's): its inline style, forms posted to us, plus `formTargets` (a client's redirect origin,
 * since browsers apply form-action to the redirect that follows a form post), and with `fonts` the fonts we serve
 * (/fonts/{file}). No script runs on these pages.
 */
export function sendHtmlPage(
  ctx: Context,
  status: number,
  html: string,
  formTargets: string[] = [],
  options: { fonts?: boolean } = {},
): void {
  ctx.status = status;
  ctx.type = 'text/html; charset=utf-8';
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set(
    'Content-Security-Policy',
    `default-src 'none'; style-src 'unsafe-inline'; ${options.fonts ? "font-src 'self'; " : ''}form-action ${["'self'", ...formTargets].join(' ')}; frame-ancestors 'none'; base-uri 'none'`,
  );
  ctx.body = html;
}
