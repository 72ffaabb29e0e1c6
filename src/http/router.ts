import Router from '@koa/router';
import type { Context } from 'koa';
import { AppError, validationFailed, type Violation } from '../errors.js';
import type { KoaOperationHandlers, OperationHandlers, OperationId, ToolName } from '../generated/handlers.js';
import paramValidators from '../generated/param-validators.cjs';
import { routes, type RouteDefinition } from '../generated/routes.js';
import validators from '../generated/validators.cjs';
import type { AppState, KoaOperationHandler, Services } from '../operations/context.js';
import { runTool } from '../operations/run-tool.js';
import { toViolations } from '../operations/validation.js';
import { readBody } from './body.js';

export interface RouteHandlers {
  operations: OperationHandlers;
  koa: KoaOperationHandlers;
}

type Ctx = Context & { state: AppState };

function checkParams(route: RouteDefinition, ctx: Ctx): { params: Record<string, unknown>; query: Record<string, unknown> } {
  const params: Record<string, unknown> = { ...(ctx.params as Record<string, string>) };
  const query: Record<string, unknown> = { ...ctx.query };
  const violations: Violation[] = [];
  const check = (name: keyof typeof paramValidators | undefined, data: Record<string, unknown>, where: string) => {
    if (!name) {
      if (where === 'query') for (const key of Object.keys(data)) violations.push({ location: `query/${key}`, message: 'is not a known parameter' });
      return;
    }
    const validate = paramValidators[name];
    if (!validate(data)) violations.push(...toViolations(validate.errors, where));
  };
  check(route.validators.path, params, 'path');
  check(route.validators.query, query, 'query');
  if (violations.length > 0) throw validationFailed(violations);
  return { params, query };
}

async function parseBody(route: RouteDefinition, ctx: Ctx): Promise<unknown> {
  if (!route.requestBody) return undefined;
  const types = Object.keys(route.requestBody.content);
  const body = await readBody(ctx, types, route.requestBody.required);
  const validatorName = body === undefined ? null : route.requestBody.content[ctx.request.is(types) || ''];
  if (validatorName) {
    const validate = validators[validatorName];
    if (!validate(body)) throw validationFailed(toViolations(validate.errors, 'body'));
  }
  return body;
}

function send(ctx: Ctx, route: RouteDefinition, response: { status: number; body: unknown; headers?: Record<string, string> }) {
  ctx.status = response.status;
  const declared = Object.keys(route.responses[String(response.status)] ?? {})[0];
  if (declared) ctx.type = declared;
  for (const [name, value] of Object.entries(response.headers ?? {})) ctx.set(name, value);
  ctx.body = response.body;
}

/** Serves one route of the generated table: tool mirror, typed operation or Koa handler. */
function routeHandler(route: RouteDefinition, handlers: RouteHandlers, services: Services) {
  return async (ctx: Ctx, next: () => Promise<void>) => {
    ctx.state.route = route.path;
    if (route.kind === 'koa') {
      const handler = (handlers.koa as unknown as Record<string, KoaOperationHandler | undefined>)[route.operationId];
      if (!handler) throw new AppError(500, 'internal_error', `no handler for ${route.operationId}`);
      await handler(ctx, next);
      return;
    }
    const { params, query } = checkParams(route, ctx);
    const body = await parseBody(route, ctx);
    if (route.kind === 'tool') {
      const input = { ...(body as Record<string, unknown> | undefined), ...query, ...params };
      const locate = (field: string) =>
        route.pathParams.includes(field) ? 'path' : route.queryParams.includes(field) ? 'query' : 'body';
      const controller = new AbortController();
      ctx.req.once('close', () => {
        if (!ctx.res.writableFinished) controller.abort();
      });
      const output = await runTool(route.tool as ToolName, input, {
        ...services,
        requestId: ctx.state.requestId,
        signal: controller.signal,
        // TODO(auth): REST has no bearer verification yet; until the lead wires the TokenVerifier here,
        // a tool that reads the principal answers 401 rather than running for nobody.
        get principal(): never {
          throw new AppError(401, 'unauthorized', 'This route needs a bearer token; REST authentication is not wired yet.');
        },
        protocolVersion: undefined,
        progress: () => undefined,
        clientLog: () => undefined,
        audit: {},
      }, locate);
      return send(ctx, route, { status: 200, body: output });
    }
    const handler = handlers.operations[route.operationId as OperationId] as (
      request: unknown,
      context: unknown,
    ) => Promise<{ status: number; body: unknown; headers?: Record<string, string> }>;
    const response = await handler({ params, query, body }, { ...services, requestId: ctx.state.requestId });
    send(ctx, route, response);
  };
}

export function buildRouter(handlers: RouteHandlers, services: Services): Router<AppState> {
  const router = new Router<AppState>();
  for (const route of routes) router[route.method](route.koaPath, routeHandler(route, handlers, services));
  return router;
}
