import crypto from 'node:crypto';
import Koa, { type Middleware } from 'koa';
import helmet from 'koa-helmet';
import { AppError, notFound } from '../errors.js';
import type { AppState, Services } from '../operations/context.js';
import { httpDuration, httpRequests } from './metrics.js';
import { sendProblem, toAppError } from './problem.js';
import { buildRouter, type RouteHandlers } from './router.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * The Koa app. Order matters: request id → access log and metrics (see the final status) → error mapping
 * → security headers → the router built from the generated route table → 404 for everything else.
 */
export interface AppOptions {
  services: Services;
  handlers: RouteHandlers;
  /** The MCP endpoint (/v1), mounted before the router. */
  mcp?: Middleware<AppState>;
  /** Run before the MCP endpoint and the router (the issuer-path rewrite of src/oauth/routes.ts). */
  beforeRoutes?: Middleware<AppState>[];
}

export function createApp({ services, handlers, mcp, beforeRoutes = [] }: AppOptions): Koa<AppState> {
  const app = new Koa<AppState>({ proxy: services.config.trustProxy });
  const router = buildRouter(handlers, services);

  app.use(async (ctx, next) => {
    const given = ctx.get('x-request-id');
    ctx.state.requestId = REQUEST_ID.test(given) ? given : crypto.randomUUID();
    ctx.set('x-request-id', ctx.state.requestId);
    await next();
  });

  app.use(async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = ctx.state.route ?? 'unmatched';
      httpRequests.inc({ method: ctx.method, route, status: String(ctx.status) });
      httpDuration.observe({ method: ctx.method, route }, seconds);
      services.log.info(
        { req_id: ctx.state.requestId, method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(seconds * 1e4) / 10 },
        'request',
      );
    }
  });

  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (thrown) {
      const error = toAppError(thrown);
      if (error.status >= 500) {
        services.log.error({ req_id: ctx.state.requestId, err: thrown }, 'request failed');
      }
      sendProblem(ctx, error, ctx.state.requestId);
    }
  });

  // A client that connects to a narrowed MCP URL (`/v1?tools=sql`) may carry its query string into the RFC 9728
  // well-known URL; the metadata is that of `/v1` whatever the query, so the query is ignored there.
  app.use(async (ctx, next) => {
    if (ctx.path.startsWith('/.well-known/oauth-protected-resource')) ctx.querystring = '';
    await next();
  });

  // Anything no route answered is a 404 problem; runs after the router so that 405s stay 405s.
  app.use(async (ctx, next) => {
    await next();
    if (ctx.body != null) return;
    if (ctx.status === 404) throw notFound(`No route ${ctx.method} ${ctx.path}. The API is described at /openapi.json.`);
    if (ctx.status === 405) {
      const allow = ctx.response.get('Allow');
      throw new AppError('method_not_allowed', `This route accepts ${allow}.`, { headers: { Allow: allow } });
    }
    if (ctx.status === 501) throw new AppError('not_implemented', `The method ${ctx.method} is not supported.`);
  });

  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'self'"] },
      },
      crossOriginResourcePolicy: { policy: 'same-site' },
    }),
  );

  for (const middleware of beforeRoutes) app.use(middleware);
  // The MCP endpoint (/v1, src/mcp/endpoint.ts) answers its own path and passes everything else on.
  if (mcp) app.use(mcp);
  app.use(router.routes());
  app.use(router.allowedMethods());

  // Errors that escape every handler (e.g. a client that hung up) are logged, never printed raw.
  app.on('error', (error: unknown) => services.log.debug({ err: error }, 'connection error'));
  return app;
}
