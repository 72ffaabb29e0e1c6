import { performance } from 'node:perf_hooks';
import Router from '@koa/router';
import { AppError, validationFailed, type Violation } from '../errors.js';
import type { KoaOperationHandlers, OperationHandlers, OperationId } from '../generated/handlers.js';
import paramValidators from '../generated/param-validators.cjs';
import { routes, type RouteDefinition } from '../generated/routes.js';
import validators from '../generated/validators.cjs';
import { auditActor } from '../operations/audit.js';
import type { AppContext, AppState, KoaOperationHandler, OperationContext, Services } from '../operations/context.js';
import { auditOutcomeOf, invokeTool } from '../operations/invoke-tool.js';
import { generatedTools } from '../operations/tool-registry.js';
import { toViolations } from '../operations/validation.js';
import { authenticateBearer, requireScope } from '../oauth/challenge.js';
import type { Principal } from '../oauth/principal.js';
import { readBody } from './body.js';
import { abortWhenClientLeaves } from './client-gone.js';
import { toAppError } from './problem.js';

export interface RouteHandlers {
  operations: OperationHandlers;
  koa: KoaOperationHandlers;
}

function checkParams(route: RouteDefinition, ctx: AppContext): { params: Record<string, unknown>; query: Record<string, unknown> } {
  const params: Record<string, unknown> = { ...(ctx.params as Record<string, string>) };
  const query: Record<string, unknown> = { ...ctx.query };
  const violations: Violation[] = [];
  const check = (name: keyof typeof paramValidators | undefined, data: Record<string, unknown>, where: string) => {
    if (!name) {
      if (where === 'query')
        for (const key of Object.keys(data)) violations.push({ location: `query/${key}`, message: 'is not a known parameter' });
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

async function parseBody(route: RouteDefinition, ctx: AppContext): Promise<unknown> {
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

function send(ctx: AppContext, route: RouteDefinition, response: { status: number; body: unknown; headers?: Record<string, string> }) {
  ctx.status = response.status;
  const declared = Object.keys(route.responses[String(response.status)] ?? {})[0];
  if (declared) ctx.type = declared;
  for (const [name, value] of Object.entries(response.headers ?? {})) ctx.set(name, value);
  ctx.body = response.body;
}

/**
 * A route's principal: public routes have none; the others need a bearer token (401 with a challenge without
 * one). A typed or Koa route also needs every scope the contract names (403 insufficient_scope); a tool
 * route's scope is checked by invokeTool, so that a refusal is audited as on /v1.
 */
async function authenticate(route: RouteDefinition, ctx: AppContext, services: Services): Promise<Principal | undefined> {
  if (!route.security) return undefined;
  const { config } = services;
  const principal = await authenticateBearer(services.oauth.verifier, config, ctx.get('authorization') || undefined);
  if (route.kind !== 'tool') {
    for (const scope of route.security.scopes) {
      requireScope(config, principal, scope, `${route.method.toUpperCase()} ${route.path}`);
    }
  }
  return principal;
}

/** A tool's REST route: the request's path, query and body are its input, run through invokeTool. */
async function serveTool(route: RouteDefinition, ctx: AppContext, principal: Principal | undefined, services: Services) {
  if (!route.tool || !principal) throw new AppError('internal_error', `tool route ${route.path} is not protected`);
  const { params, query } = checkParams(route, ctx);
  const body = await parseBody(route, ctx);
  const input = { ...(body as Record<string, unknown> | undefined), ...query, ...params };
  const controller = new AbortController();
  const stopWatching = abortWhenClientLeaves(ctx.res, controller);
  try {
    const outcome = await invokeTool(services, generatedTools, route.tool, input, {
      principal,
      requestId: ctx.state.requestId,
      signal: controller.signal,
      locate: (field) => (route.pathParams.includes(field) ? 'path' : route.queryParams.includes(field) ? 'query' : 'body'),
    });
    if (!outcome.ok) throw outcome.error;
    send(ctx, route, { status: 200, body: outcome.output });
  } finally {
    stopWatching();
  }
}

/** A typed operation or a Koa handler, audited here when the caller is known (tool calls audit themselves). */
async function serveOperation(
  route: RouteDefinition,
  ctx: AppContext,
  principal: Principal | undefined,
  handlers: RouteHandlers,
  services: Services,
) {
  const context: OperationContext = { ...services, requestId: ctx.state.requestId, principal };
  const started = performance.now();
  let failure: AppError | undefined;
  try {
    if (route.kind === 'koa') {
      const handler = (handlers.koa as unknown as Record<string, KoaOperationHandler | undefined>)[route.operationId];
      if (!handler) throw new AppError('internal_error', `no handler for ${route.operationId}`);
      await handler(ctx, context);
      return;
    }
    const { params, query } = checkParams(route, ctx);
    const body = await parseBody(route, ctx);
    const handler = handlers.operations[route.operationId as OperationId] as (
      request: unknown,
      context: OperationContext,
    ) => Promise<{ status: number; body: unknown; headers?: Record<string, string> }>;
    send(ctx, route, await handler({ params, query, body }, context));
  } catch (error) {
    failure = toAppError(error);
    throw error;
  } finally {
    if (principal) {
      services.audit.record({
        ...auditActor(principal),
        operation: route.operationId,
        outcome: failure ? auditOutcomeOf(failure) : 'ok',
        durationMs: Math.round(performance.now() - started),
      });
    }
  }
}

/** Serves one route of the generated table: tool mirror, typed operation or Koa handler. */
function routeHandler(route: RouteDefinition, handlers: RouteHandlers, services: Services) {
  return async (ctx: AppContext) => {
    ctx.state.route = route.path;
    const principal = await authenticate(route, ctx, services);
    if (route.kind === 'tool') await serveTool(route, ctx, principal, services);
    else await serveOperation(route, ctx, principal, handlers, services);
  };
}

export function buildRouter(handlers: RouteHandlers, services: Services): Router<AppState> {
  const router = new Router<AppState>();
  for (const route of routes) router[route.method](route.koaPath, routeHandler(route, handlers, services));
  return router;
}
