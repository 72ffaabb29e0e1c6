import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type { Context, Middleware } from 'koa';
import getRawBody from 'raw-body';
import {
  CallToolRequestSchema,
  CancelledNotificationSchema,
  InitializeRequestSchema,
  JSONRPCMessageSchema,
  LoggingLevelSchema,
  SetLevelRequestSchema,
  type InitializeResult,
  type JSONRPCMessage,
  type JSONRPCNotification,
  type JSONRPCRequest,
  type LoggingLevel,
  type ProgressToken,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import { DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from '../db/unavailable.js';
import { AppError } from '../errors.js';
import { toolCallLimiter, toolCallLimitMessage } from '../http/rate-limit.js';
import type { ToolDefinition } from '../generated/tools.js';
import type { AuditLog, AuditOutcome } from '../operations/audit.js';
import { auditActor } from '../operations/audit.js';
import type { AppState, ClientLogLevel, Services, ToolContext } from '../operations/context.js';
import { bearerChallenge, resourceMetadataUrl, type ChallengeParams } from '../oauth/challenge.js';
import type { Principal, TokenVerifier } from '../oauth/principal.js';
import { acceptsJsonAndSse, hostChecker, isJsonContentType, originChecker } from './http-guards.js';
import { CancelledError, InFlightRequests } from './in-flight.js';
import {
  DEFAULT_HEADER_VERSION,
  ErrorCode,
  HTTP_LAYER_ERROR,
  isProtocolVersion,
  jsonRpcError,
  negotiate,
  resultWithRawJson,
  serialize,
} from './protocol.js';
import { ResponseChannel } from './response-channel.js';
import { generatedTools, ToolCatalogue, type ToolRegistry } from './tool-catalogue.js';

export const MCP_BODY_LIMIT = 1024 * 1024;

const { version: SERVER_VERSION } = createRequire(import.meta.url)('../../package.json') as { version: string };

const INSTRUCTIONS =
  'lakehouse-mcp serves one analytics environment. Call get_session_context first to see the organization, ' +
  'environment and scopes of this session; search_docs and get_doc explain every tool and the data.';

/** Methods a client may send before it has a token: the handshake and liveness. Everything else needs one. */
const PUBLIC_METHODS = new Set(['initialize', 'notifications/initialized', 'ping']);

const LOG_LEVELS = LoggingLevelSchema.options;
/** Without sessions, a `logging/setLevel` cannot outlive its own request: every call starts at this level. */
const DEFAULT_CLIENT_LOG_LEVEL: LoggingLevel = 'info';

export interface McpEndpointOptions {
  services: Services;
  verifier: TokenVerifier;
  audit: AuditLog;
  /** Where the endpoint answers; default `/v1`. */
  path?: string;
  /** The tools served; default the generated catalogue run through runTool. Tests inject others. */
  tools?: ToolRegistry;
  /** Largest request body in bytes; default 1 MiB. */
  bodyLimit?: number;
}

type Ctx = Context & { state: AppState };

/** An answer of the HTTP layer that carries a JSON-RPC error body. */
class HttpReply extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(`HTTP ${status}`);
  }
}

const httpError = (status: number, code: number, message: string, id: RequestId | null = null, headers?: Record<string, string>) =>
  new HttpReply(status, serialize(jsonRpcError(id, code, message)), headers);

/**
 * The MCP endpoint (streamable HTTP, stateless): a Koa middleware answering POST on `path`.
 *
 * Each POST carries exactly one JSON-RPC message and is served on its own: nothing about a client is kept
 * between requests (no Mcp-Session-Id), so any process can serve any request, and no server or transport
 * object is shared between requests (the per-request state is the locals of `serve`), so two clients that
 * send the same JSON-RPC id at once each get their own answer (cf. SDK advisory CVE-2026-25536).
 *
 * We parse and shape messages with the MCP SDK's zod schemas and types, but do not use its
 * StreamableHTTPServerTransport: it converts every request to web-standard objects and costs about ten
 * times a bare handler (README.md, "Performance").
 */
export function createMcpEndpoint(options: McpEndpointOptions): Middleware<AppState> {
  const { services, verifier, audit } = options;
  const { config, log } = services;
  const path = options.path ?? '/v1';
  const bodyLimit = options.bodyLimit ?? MCP_BODY_LIMIT;
  const registry = options.tools ?? generatedTools;
  const catalogue = new ToolCatalogue(registry.tools);
  const inFlight = new InFlightRequests();
  const hostAllowed = hostChecker(config.publicUrl);
  const originAllowed = originChecker(config.allowedOrigins);
  const metadataUrl = resourceMetadataUrl(config, path);
  // TOOL_CALL_LIMIT, in this process's memory (shared with the REST tool routes of the same process).
  const limiter = toolCallLimiter(config);
  // The same challenges as the REST routes (src/oauth/challenge.ts), quoted-string safe.
  const challenge = (params: ChallengeParams) => bearerChallenge(metadataUrl, params);

  const initializeResult = (requested: string): InitializeResult => ({
    protocolVersion: negotiate(requested),
    capabilities: { tools: { listChanged: false }, logging: {} },
    serverInfo: { name: 'lakehouse-mcp', title: 'Lakehouse MCP', version: SERVER_VERSION },
    instructions: INSTRUCTIONS,
  });

  async function readMessage(ctx: Ctx): Promise<unknown> {
    const declared = ctx.request.length;
    if (declared !== undefined && declared > bodyLimit) {
      throw httpError(413, HTTP_LAYER_ERROR, `The request body is larger than ${bodyLimit} bytes.`);
    }
    let text: string;
    try {
      text = await getRawBody(ctx.req, { limit: bodyLimit, length: declared, encoding: 'utf8' });
    } catch (error) {
      const status = (error as { status?: number }).status;
      if (status === 413) throw httpError(413, HTTP_LAYER_ERROR, `The request body is larger than ${bodyLimit} bytes.`);
      throw httpError(400, ErrorCode.ParseError, 'Parse error: the request body could not be read.');
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw httpError(400, ErrorCode.ParseError, `Parse error: ${(error as Error).message}`);
    }
  }

  async function authenticate(ctx: Ctx, method: string | undefined, id: RequestId | null): Promise<Principal | undefined> {
    const header = ctx.get('authorization');
    if (!header) {
      if (method !== undefined && PUBLIC_METHODS.has(method)) return undefined;
      throw httpError(401, HTTP_LAYER_ERROR, 'Unauthorized: send an OAuth access token (Authorization: Bearer …).', id, {
        'www-authenticate': challenge({ scope: 'read write' }),
      });
    }
    const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
    try {
      if (!match?.[1]) throw new AppError(401, 'invalid_token', 'The Authorization header is not a bearer token.');
      return await verifier.verify(match[1]);
    } catch (error) {
      if (error instanceof AppError && error.status === 401) {
        throw httpError(401, HTTP_LAYER_ERROR, `Unauthorized: ${error.message}`, id, {
          'www-authenticate': challenge({ error: 'invalid_token', error_description: error.message, scope: 'read write' }),
        });
      }
      if (error instanceof AppError && error.expose) throw httpError(error.status, HTTP_LAYER_ERROR, error.message, id, error.headers);
      if (isDatabaseUnavailable(error)) throw httpError(503, HTTP_LAYER_ERROR, DATABASE_UNAVAILABLE_MESSAGE, id, { 'retry-after': '2' });
      log.error({ req_id: ctx.state.requestId, err: error }, 'token verification failed');
      throw httpError(500, ErrorCode.InternalError, 'Internal error', id);
    }
  }

  /** tools/call: scope check, run, shape the result, audit. Answers the JSON-RPC response as text. */
  async function callTool(ctx: Ctx, request: JSONRPCRequest, principal: Principal, protocolVersion: string, channel: ResponseChannel) {
    const started = performance.now();
    const at = new Date();
    const parsed = CallToolRequestSchema.safeParse(request);
    if (!parsed.success) {
      return serialize(
        jsonRpcError(
          request.id,
          ErrorCode.InvalidParams,
          `Invalid params: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'params'}: ${i.message}`).join('; ')}`,
        ),
      );
    }
    const { name, arguments: args, _meta } = parsed.data.params;
    const record = (operation: string, outcome: AuditOutcome, sql?: string) =>
      audit.record({
        ...auditActor(principal),
        operation: operation.slice(0, 200),
        outcome,
        durationMs: performance.now() - started,
        at,
        sql: sql ?? null,
      });

    const tool: ToolDefinition | undefined = catalogue.get(name);
    if (!tool) {
      record(name, 'error:unknown_tool');
      return serialize(
        jsonRpcError(
          request.id,
          ErrorCode.InvalidParams,
          `Unknown tool: ${JSON.stringify(name).slice(0, 200)}. tools/list names the tools this token may call.`,
        ),
      );
    }
    if (!principal.scopes.has(tool.scope)) {
      record(name, 'forbidden');
      // Step-up: ask for what the call needs plus what the token has, so that re-authorizing loses nothing.
      const wanted = new Set([...principal.scopes, tool.scope]);
      const scope = ['read', 'write'].filter((s) => wanted.has(s as 'read')).join(' ');
      throw httpError(
        403,
        HTTP_LAYER_ERROR,
        `Forbidden: ${name} needs the "${tool.scope}" scope, which this token was not granted.`,
        request.id,
        {
          'www-authenticate': challenge({ error: 'insufficient_scope', scope, error_description: `${name} needs the ${tool.scope} scope` }),
        },
      );
    }

    const admission = limiter.take(principal.environmentId);
    if (!admission.ok) {
      record(name, 'error:rate_limited');
      const result = {
        content: [{ type: 'text', text: toolCallLimitMessage(admission) }],
        isError: true,
        _meta: { 'lakehouse-mcp/error': { code: 'rate_limited', retry_after: admission.retryAfter, request_id: ctx.state.requestId } },
      };
      return serialize({ jsonrpc: '2.0', id: request.id, result });
    }

    const progressToken: ProgressToken | undefined = _meta?.progressToken;
    const controller = new AbortController();
    const done = inFlight.add(principal, request.id, controller);
    const onClose = () => {
      if (!ctx.res.writableFinished) controller.abort(new CancelledError('the client disconnected'));
    };
    ctx.res.once('close', onClose);
    const notify = (notification: JSONRPCNotification) => {
      if (progressToken !== undefined && !controller.signal.aborted) channel.notify(notification);
    };
    const toolCtx: ToolContext = {
      ...services,
      requestId: ctx.state.requestId,
      signal: controller.signal,
      principal,
      protocolVersion,
      progress: (progress, total, message) =>
        notify({
          jsonrpc: '2.0',
          method: 'notifications/progress',
          params: {
            progressToken: progressToken ?? '',
            progress,
            ...(total === undefined ? {} : { total }),
            ...(message === undefined ? {} : { message }),
          },
        }),
      clientLog: (level: ClientLogLevel, data: unknown) => {
        if (LOG_LEVELS.indexOf(level) < LOG_LEVELS.indexOf(DEFAULT_CLIENT_LOG_LEVEL)) return;
        notify({ jsonrpc: '2.0', method: 'notifications/message', params: { level, logger: name, data } });
      },
      audit: {},
      content: [],
    };

    try {
      const output = await registry.run(name, args ?? {}, toolCtx);
      if (controller.signal.aborted) throw controller.signal.reason;
      record(name, 'ok', toolCtx.audit.sql);
      const text = JSON.stringify(output);
      // The same JSON twice, serialized once: as structuredContent and as a text item for older clients.
      // Content items a tool added (an image) follow the text item.
      const extra = (toolCtx.content ?? []).map((item) => `,${JSON.stringify(item)}`).join('');
      return resultWithRawJson(
        request.id,
        `{"content":[{"type":"text","text":${JSON.stringify(text)}}${extra}],"structuredContent":${text}}`,
      );
    } catch (error) {
      if (controller.signal.aborted) {
        record(name, 'error:cancelled', toolCtx.audit.sql);
        return serialize(
          jsonRpcError(
            request.id,
            HTTP_LAYER_ERROR,
            `Request cancelled: ${(controller.signal.reason as Error | undefined)?.message ?? 'cancelled'}`,
          ),
        );
      }
      let code = 'internal_error';
      let message = 'Internal error: the tool failed. Quote the request id when reporting it.';
      let violations: unknown;
      if (error instanceof AppError && error.expose) {
        code = error.code;
        message = error.message;
        violations = error.violations;
      } else if (isDatabaseUnavailable(error)) {
        code = 'database_unavailable';
        message = DATABASE_UNAVAILABLE_MESSAGE;
      } else {
        log.error({ req_id: ctx.state.requestId, tool: name, err: error }, 'tool failed');
      }
      const invalid = code === 'validation_failed';
      record(name, invalid ? 'invalid_input' : `error:${code}`, toolCtx.audit.sql);
      // The code goes in _meta, not structuredContent: clients validate structuredContent against the
      // tool's output schema even on errors (the SDK's Client does), and an error is not the tool's output.
      const result = {
        content: [{ type: 'text', text: message }],
        isError: true,
        _meta: { 'lakehouse-mcp/error': { code, ...(violations ? { violations } : {}), request_id: ctx.state.requestId } },
      };
      return serialize({ jsonrpc: '2.0', id: request.id, result });
    } finally {
      done();
      ctx.res.off('close', onClose);
    }
  }

  /** Answers one request; JSON-RPC errors of the method itself travel with HTTP 200. */
  async function handleRequest(
    ctx: Ctx,
    request: JSONRPCRequest,
    principal: Principal | undefined,
    protocolVersion: string,
    channel: ResponseChannel,
  ): Promise<string> {
    switch (request.method) {
      case 'initialize': {
        const parsed = InitializeRequestSchema.safeParse(request);
        if (!parsed.success)
          return serialize(
            jsonRpcError(request.id, ErrorCode.InvalidParams, `Invalid params: ${parsed.error.issues[0]?.message ?? 'initialize params'}`),
          );
        return serialize({ jsonrpc: '2.0', id: request.id, result: initializeResult(parsed.data.params.protocolVersion) });
      }
      case 'ping':
        return resultWithRawJson(request.id, '{}');
      case 'logging/setLevel': {
        // Stateless: there is no session to keep the level in, so it governs this request's notifications
        // only (it has none). Each tool call starts at the default level, `info`.
        const parsed = SetLevelRequestSchema.safeParse(request);
        if (!parsed.success)
          return serialize(
            jsonRpcError(request.id, ErrorCode.InvalidParams, `Invalid params: level must be one of ${LOG_LEVELS.join(', ')}`),
          );
        return resultWithRawJson(request.id, '{}');
      }
      case 'tools/list':
        return resultWithRawJson(request.id, catalogue.listResultJson((principal as Principal).scopes));
      case 'tools/call':
        return callTool(ctx, request, principal as Principal, protocolVersion, channel);
      default:
        return serialize(jsonRpcError(request.id, ErrorCode.MethodNotFound, `Method not found: ${request.method.slice(0, 100)}`));
    }
  }

  function handleNotification(notification: JSONRPCNotification, principal: Principal | undefined): void {
    if (notification.method === 'notifications/cancelled' && principal) {
      const parsed = CancelledNotificationSchema.safeParse(notification);
      const requestId = parsed.success ? parsed.data.params.requestId : undefined;
      if (requestId !== undefined) inFlight.cancel(principal, requestId, parsed.data?.params.reason ?? 'cancelled by the client');
    }
    // notifications/initialized and anything else: nothing to do (JSON-RPC notifications get no answer).
  }

  async function serve(ctx: Ctx): Promise<void> {
    if (ctx.method !== 'POST') {
      throw httpError(
        405,
        HTTP_LAYER_ERROR,
        'Method not allowed: this stateless MCP endpoint takes POST only (no SSE stream, no session to delete).',
        null,
        { allow: 'POST' },
      );
    }
    if (!hostAllowed(ctx.host))
      throw httpError(
        403,
        HTTP_LAYER_ERROR,
        `Forbidden: unexpected Host header; this server answers as ${new URL(config.publicUrl).host}.`,
      );
    const origin = ctx.get('origin') || undefined;
    if (!originAllowed(origin)) throw httpError(403, HTTP_LAYER_ERROR, 'Forbidden: this Origin is not allowed (see ALLOWED_ORIGINS).');
    if (!acceptsJsonAndSse(ctx.get('accept'))) {
      throw httpError(406, HTTP_LAYER_ERROR, 'Not Acceptable: the Accept header must list both application/json and text/event-stream.');
    }
    if (!isJsonContentType(ctx.get('content-type'))) {
      throw httpError(415, HTTP_LAYER_ERROR, 'Unsupported Media Type: send one JSON-RPC message as application/json.');
    }

    const raw = await readMessage(ctx);
    if (Array.isArray(raw)) {
      throw httpError(
        400,
        ErrorCode.InvalidRequest,
        'Invalid Request: JSON-RPC batches are not supported (MCP removed batching in 2025-06-18); send one message per POST.',
      );
    }
    const parsed = JSONRPCMessageSchema.safeParse(raw);
    const rawId = (raw as { id?: unknown } | null)?.id;
    const idForError = typeof rawId === 'string' || (typeof rawId === 'number' && Number.isInteger(rawId)) ? rawId : null;
    if (!parsed.success)
      throw httpError(400, ErrorCode.InvalidRequest, 'Invalid Request: not a JSON-RPC 2.0 request, notification or response.', idForError);
    const message: JSONRPCMessage = parsed.data;
    const method = 'method' in message ? message.method : undefined;
    const id = 'id' in message && message.id !== undefined ? message.id : null;

    let protocolVersion: string = DEFAULT_HEADER_VERSION;
    if (method !== 'initialize') {
      const header = ctx.get('mcp-protocol-version');
      if (header) {
        if (!isProtocolVersion(header)) {
          throw httpError(
            400,
            HTTP_LAYER_ERROR,
            `Bad Request: unsupported MCP-Protocol-Version "${header.slice(0, 40)}" (supported: 2025-11-25, 2025-06-18, 2025-03-26).`,
            id,
          );
        }
        protocolVersion = header;
      }
    }

    const principal = await authenticate(ctx, method, id);

    if (!('method' in message) || !('id' in message)) {
      // A notification, or a response to a request we never send: accepted, nothing to answer.
      if ('method' in message) handleNotification(message, principal);
      ctx.status = 202;
      ctx.body = '';
      ctx.remove('content-type');
      return;
    }

    const channel = new ResponseChannel(ctx.res, () => {
      ctx.status = 200;
      ctx.respond = false;
    });
    const response = await handleRequest(ctx, message, principal, protocolVersion, channel);
    if (channel.isStreaming) {
      channel.endStream(response);
      return;
    }
    ctx.status = 200;
    ctx.type = 'application/json';
    ctx.body = response;
  }

  return async (ctx, next) => {
    if (ctx.path !== path) {
      await next();
      return;
    }
    ctx.state.route = path;
    try {
      await serve(ctx);
    } catch (error) {
      if (!(error instanceof HttpReply)) throw error;
      if (ctx.headerSent) return;
      ctx.status = error.status;
      for (const [name, value] of Object.entries(error.headers)) ctx.set(name, value);
      ctx.type = 'application/json';
      ctx.body = error.body;
    }
  };
}
