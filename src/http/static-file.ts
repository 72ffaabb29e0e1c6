import crypto from 'node:crypto';
import type { Context } from 'koa';

// Files the server ships and serves as they are (the API reference's script, the dashboard page's fonts): read
// once, answered with a strong ETag of their bytes, and 304 when the client already holds them.

export interface StaticFile {
  body: Buffer;
  etag: string;
}

export function staticFile(body: Buffer): StaticFile {
  return { body, etag: `"${crypto.createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/** Answers with `file` as `type`, cacheable for a day (its ETag revalidates it after). */
export function sendStaticFile(ctx: Context, file: StaticFile, type: string): void {
  ctx.set('ETag', file.etag);
  ctx.set('Cache-Control', 'public, max-age=86400');
  ctx.type = type;
  if (ctx.get('if-none-match') === file.etag) {
    ctx.status = 304;
    return;
  }
  ctx.body = file.body;
}
