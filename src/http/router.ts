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
import { authenticateBearer, requireScope } from '../oauth/challenge.js';
import type { Principal, TokenVerifier } from '../oauth/principal.js';
import { auditActor, type AuditLog, type AuditOutcome } from '../operations/audit.js';
import { readBody } from './body.js';
import { toAppError } from './problem.js';
import { toolCallLimiter, toolCallLimitError } from './rate-limit.js';

export interface RouteHandlers {
  operations: OperationHandlers;
  koa: KoaOperationHandlers;
}

/** What the router needs besides the handlers: bearer verification, and the audit log for every REST call. */
export interface RouterDeps {
  services: Services;
  verifier: TokenVerifier;
  audit: AuditLog;
}

type Ctx = Context & { state: AppState };

function checkParams(route: RouteDefinition, ctx: Ctx): { params: Record<string, unknown>; query: Record<string, unknown> } {
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

/**
 * A route's principal: public routes have none; the others need a bearer token holding every scope the
 * contract names (401 with a challenge without one, 403 insufficient_scope when a scope is missing).
 */
async function authenticate(route: RouteDefinition, ctx: Ctx, deps: RouterDeps): Promise<Principal | undefined> {
  if (!route.security) return undefined;
  const { config } = deps.services;
  const principal = await authenticateBearer(deps.verifier, config, ctx.get('authorization') || undefined);
  for (const scope of route.security.scopes) {
    requireScope(config, principal, scope, `${route.method.toUpperCase()} ${route.path}`);
  }
  ctx.state.principal = principal;
  return principal;
}

/** Audit outcome of a finished or failed REST call, in the same vocabulary as tool calls over MCP. */
function outcomeOf(error: unknown): AuditOutcome {
  if (error === undefined) return 'ok';
  const { status, code } = toAppError(error);
  if (code === 'validation_failed') return 'invalid_input';
  if (status === 403) return 'forbidden';
  return `error:${code}`;
}

/** Serves one route of the generated table: tool mirror, typed operation or Koa handler. */
function routeHandler(route: RouteDefinition, handlers: RouteHandlers, deps: RouterDeps) {
  const { services } = deps;
  // TOOL_CALL_LIMIT, in this process's memory (shared with the MCP endpoint of the same process).
  const limiter = toolCallLimiter(services.config);
  return async (ctx: Ctx, next: () => Promise<void>) => {
    ctx.state.route = route.path;
    const principal = await authenticate(route, ctx, deps);
    const audit: { sql?: string } = {};
    const started = performance.now();
    let failure: unknown;
    try {
      await serve(ctx, next, principal, audit);
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      // Every authenticated REST call is audited, like every tool call over MCP.
      if (principal) {
        deps.audit.record({
          ...auditActor(principal),
          operation: route.tool ?? route.operationId,
          outcome: outcomeOf(failure),
          durationMs: Math.round(performance.now() - started),
          ...(audit.sql !== undefined ? { sql: audit.sql } : {}),
        });
      }
    }
  };

  async function serve(ctx: Ctx, next: () => Promise<void>, principal: Principal | undefined, audit: { sql?: string }) {
    if (route.kind === 'koa') {
      const handler = (handlers.koa as unknown as Record<string, KoaOperationHandler | undefined>)[route.operationId];
      if (!handler) throw new AppError(500, 'internal_error', `no handler for ${route.operationId}`);
      ctx.state.services = services;
      await handler(ctx, next);
      return;
    }
    const { params, query } = checkParams(route, ctx);
    const body = await parseBody(route, ctx);
    if (route.kind === 'tool') {
      if (!principal) throw new AppError(500, 'internal_error', `tool route ${route.path} is not protected`);
      const admission = limiter.take(principal.environmentId);
      if (!admission.ok) throw toolCallLimitError(admission);
      const input = { ...(body as Record<string, unknown> | undefined), ...query, ...params };
      const locate = (field: string) => (route.pathParams.includes(field) ? 'path' : route.queryParams.includes(field) ? 'query' : 'body');
      const controller = new AbortController();
      // The response's 'close' (not the request's: that fires once the body has been read) tells that the
      // client hung up before the answer; the tool's statement is then cancelled (test/faults/client-disconnect).
      const onClose = () => {
        if (!ctx.res.writableFinished) controller.abort();
      };
      if (ctx.res.destroyed) onClose();
      else ctx.res.once('close', onClose);
      const output = await runTool(
        route.tool as ToolName,
        input,
        {
          ...services,
          requestId: ctx.state.requestId,
          signal: controller.signal,
          principal,
          // REST has no MCP session: no protocol version, progress or client log notifications.
          protocolVersion: undefined,
          progress: () => undefined,
          clientLog: () => undefined,
          audit,
        },
        locate,
      );
      send(ctx, route, { status: 200, body: output });
      return;
    }
    const handler = handlers.operations[route.operationId as OperationId] as (
      request: unknown,
      context: unknown,
    ) => Promise<{ status: number; body: unknown; headers?: Record<string, string> }>;
    const response = await handler({ params, query, body }, { ...services, requestId: ctx.state.requestId, principal });
    send(ctx, route, response);
  }
}

export function buildRouter(handlers: RouteHandlers, deps: RouterDeps): Router<AppState> {
  const router = new Router<AppState>();
  for (const route of routes) router[route.method](route.koaPath, routeHandler(route, handlers, deps));
  return router;
}
