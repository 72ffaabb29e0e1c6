import type { Context } from 'koa';
import getRawBody from 'raw-body';
import { AppError } from '../errors.js';

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

const hasBody = (ctx: Context) => ctx.request.length > 0 || (ctx.request.length === undefined && ctx.get('transfer-encoding') !== '');

/**
 * Reads and parses a request body of one of the declared content types.
 * Malformed JSON → 400, too large → 413, an undeclared content type → 415.
 */
export async function readBody(ctx: Context, contentTypes: string[], required: boolean, limit = DEFAULT_BODY_LIMIT): Promise<unknown> {
  if (!hasBody(ctx)) {
    if (required) throw new AppError('body_required', `This route needs a request body (${contentTypes.join(' or ')}).`);
    return undefined;
  }
  const matched = ctx.request.is(contentTypes);
  if (!matched) {
    throw new AppError('unsupported_media_type', `Send the body as ${contentTypes.join(' or ')} (with that Content-Type).`);
  }
  const text = await getRawBody(ctx.req, { limit, length: ctx.request.length, encoding: 'utf8' });
  if (matched === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(text));
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new AppError('malformed_json', `The body is not valid JSON: ${(error as Error).message}`);
  }
}
