import path from 'node:path';
import { createRequire } from 'node:module';
import type { Middleware } from 'koa';
import getRawBody from 'raw-body';
import type {
  InitializeResult,
  JSONRPCMessage,
  JSONRPCNotification,
  JSONRPCRequest,
  LoggingLevel,
  ProgressToken,
  RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import { DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from '../db/unavailable.js';
import { AppError } from '../errors.js';
import { abortWhenClientLeaves } from '../http/client-gone.js';
import type { AppContext, AppState, ClientLogLevel, Services, TaskSlot } from '../operations/context.js';
import { invokeTool } from '../operations/invoke-tool.js';
import { generatedTools, type ToolRegistry } from '../operations/tool-registry.js';
import { bearerChallenge, resourceMetadataUrl, type ChallengeParams } from '../oauth/challenge.js';
import type { Principal } from '../oauth/principal.js';
import { acceptsJsonAndSse, hostChecker, isJsonContentType, originChecker } from './http-guards.js';
import { HttpReply, httpError } from './http-reply.js';
import { InFlightRequests } from './in-flight.js';
import { asJsonRpcMessage, callToolParams, cancelledParams, initializeParams, LOGGING_LEVELS, setLevelParams } from './json-rpc.js';
import {
  checkModernRequest,
  claimsModern,
  isModernVersionHeader,
  META,
  MODERN_VERSIONS,
  transportErrorCode,
  type ModernEnvelope,
} from './modern.js';
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
import { FEATURE_CAPABILITIES, FEATURE_METHODS, serveFeature } from './features.js';
import { resultText } from './result-text.js';
import { createTaskResult, serveTaskMethod, TASK_METHODS, TASK_TOOLS, TASKS_EXTENSION } from './tasks.js';
import { toolErrorResult } from './tool-error-result.js';
import { ResponseChannel } from './response-channel.js';
import { ToolCatalogue } from './tool-catalogue.js';
import { catalogueView, CatalogueViewError, viewShows, type CatalogueView } from './tool-groups.js';
import { PACKAGE_ROOT } from '../package-paths.js';

export const MCP_BODY_LIMIT = 1024 * 1024;

const { version: SERVER_VERSION } = createRequire(import.meta.url)(path.join(PACKAGE_ROOT, 'package.json')) as { version: string };

const INSTRUCTIONS =
  'lakehouse-mcp serves one analytics environment. Call get_session_context first to see the organization, ' +
  'environment and scopes of this session; search_docs and get_doc explain every tool and the data. SQL on the ' +
  "built-in connections is DuckDB's: SELECT count(*) FROM events works at once (the sample data).";

/** Methods a client may send before it has a token: the handshake and liveness. Everything else needs one. */
const PUBLIC_METHODS = new Set(['initialize', 'notifications/initialized', 'ping']);
/**
 * The modern handshake: `server/discover` answers without a token, as `initialize` does (versions,
 * capabilities and instructions are the same for every caller), so a client can learn the era before OAuth.
 * A token that is sent is still verified.
 */
const MODERN_PUBLIC_METHODS = new Set(['server/discover']);

/** Without sessions, a `logging/setLevel` cannot outlive its own request: every call starts at this level. */
const DEFAULT_CLIENT_LOG_LEVEL: LoggingLevel = 'info';

export interface McpEndpointOptions {
  services: Services;
  /** Where the endpoint answers; default `/v1`. */
  path?: string;
  /** The tools served; default the generated ones. Tests inject others. */
  tools?: ToolRegistry;
  /** Largest request body in bytes; default 1 MiB. */
  bodyLimit?: number;
}

/** What every request of one endpoint shares, built once by createMcpEndpoint. */
interface Endpoint {
  services: Services;
  path: string;
  bodyLimit: number;
  tools: ToolRegistry;
  catalogue: ToolCatalogue;
  inFlight: InFlightRequests;
  hostAllowed: (host: string) => boolean;
  originAllowed: (origin: string | undefined) => boolean;
  /** The WWW-Authenticate challenge of this resource (src/oauth/challenge.ts), as the REST routes answer it. */
  challenge: (params: ChallengeParams) => string;
}

const SERVER_INFO = { name: 'lakehouse-mcp', title: 'Lakehouse MCP', version: SERVER_VERSION };
/** `_meta` of every modern result: who answered (basic/index, "serverInfo"). */
const SERVER_INFO_META = JSON.stringify({ [META.serverInfo]: SERVER_INFO });

const initializeResult = (requested: string): InitializeResult => ({
  protocolVersion: negotiate(requested),
  capabilities: { tools: { listChanged: false }, logging: {}, ...FEATURE_CAPABILITIES },
  serverInfo: SERVER_INFO,
  instructions: INSTRUCTIONS,
});

/** How a tool call is answered: the era of its request, its revision and the level of log messages it wants. */
interface CallEra {
  modern: boolean;
  protocolVersion: string;
  /** No `notifications/message` when undefined. */
  logLevel: LoggingLevel | undefined;
  /** The request declares the tasks extension: a tool of TASK_TOOLS answers with a task. */
  takesTask?: boolean;
}

/** The transport's own checks, before the body is read: method, Host, Origin, Accept, Content-Type. */
function checkHttp(ctx: AppContext, endpoint: Endpoint, modern: boolean): void {
  if (ctx.method !== 'POST') {
    throw httpError(
      405,
      transportErrorCode(modern, 405),
      'Method not allowed: this stateless MCP endpoint takes POST only (no SSE stream, no session to delete).',
      null,
      { allow: 'POST' },
    );
  }
  if (!endpoint.hostAllowed(ctx.host)) {
    const expected = new URL(endpoint.services.config.publicUrl).host;
    throw httpError(403, transportErrorCode(modern, 403), `Forbidden: unexpected Host header; this server answers as ${expected}.`);
  }
  if (!endpoint.originAllowed(ctx.get('origin') || undefined)) {
    throw httpError(403, transportErrorCode(modern, 403), 'Forbidden: this Origin is not allowed (see ALLOWED_ORIGINS).');
  }
  if (!acceptsJsonAndSse(ctx.get('accept'))) {
    throw httpError(
      406,
      transportErrorCode(modern, 406),
      'Not Acceptable: the Accept header must list both application/json and text/event-stream.',
    );
  }
  if (!isJsonContentType(ctx.get('content-type'))) {
    throw httpError(415, transportErrorCode(modern, 415), 'Unsupported Media Type: send one JSON-RPC message as application/json.');
  }
}

/** The request body as JSON, within the size limit. */
async function readBody(ctx: AppContext, bodyLimit: number, modern: boolean): Promise<unknown> {
  const declared = ctx.request.length;
  if (declared !== undefined && declared > bodyLimit) {
    throw httpError(413, transportErrorCode(modern, 413), `The request body is larger than ${bodyLimit} bytes.`);
  }
  let text: string;
  try {
    text = await getRawBody(ctx.req, { limit: bodyLimit, length: declared, encoding: 'utf8' });
  } catch (error) {
    const status = (error as { status?: number }).status;
    if (status === 413) throw httpError(413, transportErrorCode(modern, 413), `The request body is larger than ${bodyLimit} bytes.`);
    throw httpError(400, ErrorCode.ParseError, 'Parse error: the request body could not be read.');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw httpError(400, ErrorCode.ParseError, `Parse error: ${(error as Error).message}`);
  }
}

/** One JSON-RPC message (no batches), with its method and id when it has them. */
function parseMessage(raw: unknown): { message: JSONRPCMessage; method: string | undefined; id: RequestId | null } {
  if (Array.isArray(raw)) {
    throw httpError(
      400,
      ErrorCode.InvalidRequest,
      'Invalid Request: JSON-RPC batches are not supported (MCP removed batching in 2025-06-18); send one message per POST.',
    );
  }
  const message = asJsonRpcMessage(raw);
  if (!message) {
    const rawId = (raw as { id?: unknown } | null)?.id;
    const id = typeof rawId === 'string' || (typeof rawId === 'number' && Number.isInteger(rawId)) ? rawId : null;
    throw httpError(400, ErrorCode.InvalidRequest, 'Invalid Request: not a JSON-RPC 2.0 request, notification or response.', id);
  }
  return {
    message,
    method: 'method' in message ? message.method : undefined,
    id: 'id' in message && message.id !== undefined ? message.id : null,
  };
}

/** The revision a request speaks: its MCP-Protocol-Version header (initialize negotiates in its body). */
function protocolVersionOf(ctx: AppContext, method: string | undefined, id: RequestId | null): string {
  const header = ctx.get('mcp-protocol-version');
  if (method === 'initialize' || !header) return DEFAULT_HEADER_VERSION;
  if (!isProtocolVersion(header)) {
    throw httpError(
      400,
      HTTP_LAYER_ERROR,
      `Bad Request: unsupported MCP-Protocol-Version "${header.slice(0, 40)}" (supported: 2025-11-25, 2025-06-18, 2025-03-26).`,
      id,
    );
  }
  return header;
}

/** The caller: none for the public methods without a token; otherwise a verified bearer token or a 401. */
async function authenticate(
  ctx: AppContext,
  endpoint: Endpoint,
  method: string | undefined,
  id: RequestId | null,
  modern: boolean,
): Promise<Principal | undefined> {
  const header = ctx.get('authorization');
  if (!header) {
    if (method !== undefined && (modern ? MODERN_PUBLIC_METHODS : PUBLIC_METHODS).has(method)) return undefined;
    throw httpError(401, transportErrorCode(modern, 401), 'Unauthorized: send an OAuth access token (Authorization: Bearer …).', id, {
      'www-authenticate': endpoint.challenge({ scope: 'read write' }),
    });
  }
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  try {
    if (!match?.[1]) throw new AppError('invalid_token', 'The Authorization header is not a bearer token.');
    return await endpoint.services.oauth.verifier.verify(match[1]);
  } catch (error) {
    if (error instanceof AppError && error.status === 401) {
      throw httpError(401, transportErrorCode(modern, 401), `Unauthorized: ${error.message}`, id, {
        'www-authenticate': endpoint.challenge({ error: 'invalid_token', error_description: error.message, scope: 'read write' }),
      });
    }
    if (error instanceof AppError && error.expose)
      throw httpError(error.status, transportErrorCode(modern, error.status), error.message, id, error.headers);
    if (isDatabaseUnavailable(error))
      throw httpError(503, transportErrorCode(modern, 503), DATABASE_UNAVAILABLE_MESSAGE, id, { 'retry-after': '2' });
    endpoint.services.log.error({ req_id: ctx.state.requestId, err: error }, 'token verification failed');
    throw httpError(500, ErrorCode.InternalError, 'Internal error', id);
  }
}

/** The catalogue view the MCP URL's query string asks for (`?tools=…&read_only=…`); a malformed one is -32602. */
function urlView(ctx: AppContext, id: RequestId): CatalogueView {
  try {
    return catalogueView(new URLSearchParams(ctx.querystring));
  } catch (error) {
    if (error instanceof CatalogueViewError) throw httpError(400, ErrorCode.InvalidParams, error.message, id);
    throw error;
  }
}

/**
 * tools/call: invokeTool, then its outcome as JSON-RPC. A missing scope is an HTTP 403 with a step-up
 * challenge; an unknown tool is -32602; a cancelled call a JSON-RPC error; any other failure a tool result
 * with `isError` and the error's code in `_meta`.
 */
async function callTool(
  ctx: AppContext,
  endpoint: Endpoint,
  request: JSONRPCRequest,
  principal: Principal,
  era: CallEra,
  channel: ResponseChannel,
): Promise<string> {
  const { modern, protocolVersion, logLevel } = era;
  const checked = callToolParams(request.params);
  if (!checked.ok) return serialize(jsonRpcError(request.id, ErrorCode.InvalidParams, `Invalid params: ${checked.problem}`));
  const { name, arguments: args, _meta } = checked.params;
  const tool = endpoint.catalogue.get(name);
  if (tool && !viewShows(urlView(ctx, request.id), tool)) {
    const message = `Tool ${name} is not in the catalogue of this URL (?${ctx.querystring}); connect to the URL without the query string for every tool.`;
    return serialize(jsonRpcError(request.id, ErrorCode.InvalidParams, message));
  }
  const progressToken: ProgressToken | undefined = _meta?.progressToken;
  const controller = new AbortController();
  const unregister = endpoint.inFlight.add(principal, request.id, controller);
  const stopWatching = abortWhenClientLeaves(ctx.res, controller);
  // Notifications (the answer then becomes an SSE stream) go out only when asked for: progress for a call with
  // a progressToken; log messages, on the legacy path with the progress, on the modern one when _meta names a
  // log level (logging, 2026-07-28).
  const logsWanted = modern ? logLevel !== undefined : progressToken !== undefined;
  const notify = (notification: JSONRPCNotification, wanted: boolean) => {
    if (wanted && !controller.signal.aborted) channel.notify(notification);
  };
  const task: TaskSlot | undefined = era.takesTask && TASK_TOOLS.has(name) ? {} : undefined;
  try {
    const outcome = await invokeTool(endpoint.services, endpoint.tools, name, args ?? {}, {
      principal,
      requestId: ctx.state.requestId,
      signal: controller.signal,
      locate: 'input',
      protocolVersion,
      content: [],
      ...(task ? { task } : {}),
      progress: (progress, total, message) =>
        notify(
          {
            jsonrpc: '2.0',
            method: 'notifications/progress',
            params: {
              progressToken: progressToken ?? '',
              progress,
              ...(total === undefined ? {} : { total }),
              ...(message === undefined ? {} : { message }),
            },
          },
          progressToken !== undefined,
        ),
      clientLog: (level: ClientLogLevel, data: unknown) => {
        if (logLevel === undefined || LOGGING_LEVELS.indexOf(level) < LOGGING_LEVELS.indexOf(logLevel)) return;
        notify({ jsonrpc: '2.0', method: 'notifications/message', params: { level, logger: name, data } }, logsWanted);
      },
    });
    if (outcome.ok && task?.job) {
      const created = createTaskResult(task.job, endpoint.services.config.resultTtlMs);
      return serialize({ jsonrpc: '2.0', id: request.id, result: { ...created, _meta: { [META.serverInfo]: SERVER_INFO } } });
    }
    if (outcome.ok) {
      // The JSON for clients (structuredContent), a compact rendering of it for the model (the text item).
      // Content items a tool added (an image) follow the text item.
      const extra = outcome.content.map((item) => `,${JSON.stringify(item)}`).join('');
      const text = JSON.stringify(resultText(outcome.output));
      const fields = `"content":[{"type":"text","text":${text}}${extra}],"structuredContent":${JSON.stringify(outcome.output)}`;
      return resultWithRawJson(request.id, modern ? `{"resultType":"complete",${fields},"_meta":${SERVER_INFO_META}}` : `{${fields}}`);
    }
    const { error } = outcome;
    if (outcome.cancelled) return serialize(jsonRpcError(request.id, transportErrorCode(modern, 499), error.message));
    if (error.code === 'unknown_tool') return serialize(jsonRpcError(request.id, ErrorCode.InvalidParams, error.message));
    if (error.code === 'insufficient_scope')
      throw httpError(403, transportErrorCode(modern, 403), `Forbidden: ${error.message}`, request.id, error.headers);
    const result = toolErrorResult(error, ctx.state.requestId);
    return serialize({
      jsonrpc: '2.0',
      id: request.id,
      result: modern ? { resultType: 'complete', ...result, _meta: { ...result._meta, [META.serverInfo]: SERVER_INFO } } : result,
    });
  } finally {
    unregister();
    stopWatching();
  }
}

/** Answers one request; JSON-RPC errors of the method itself travel with HTTP 200. */
async function handleRequest(
  ctx: AppContext,
  endpoint: Endpoint,
  request: JSONRPCRequest,
  principal: Principal | undefined,
  protocolVersion: string,
  channel: ResponseChannel,
): Promise<string> {
  if (FEATURE_METHODS.has(request.method)) {
    const era = { modern: false, protocolVersion };
    return serveFeature(ctx, endpoint.services, request, principal as Principal, era, (result) =>
      serialize({ jsonrpc: '2.0', id: request.id, result }),
    );
  }
  switch (request.method) {
    case 'initialize': {
      const checked = initializeParams(request.params);
      if (!checked.ok) return serialize(jsonRpcError(request.id, ErrorCode.InvalidParams, `Invalid params: ${checked.problem}`));
      return serialize({ jsonrpc: '2.0', id: request.id, result: initializeResult(checked.params.protocolVersion) });
    }
    case 'ping':
      return resultWithRawJson(request.id, '{}');
    case 'logging/setLevel': {
      // Stateless: there is no session to keep the level in, so it governs this request's notifications
      // only (it has none). Each tool call starts at the default level, `info`.
      const checked = setLevelParams(request.params);
      if (!checked.ok) return serialize(jsonRpcError(request.id, ErrorCode.InvalidParams, `Invalid params: ${checked.problem}`));
      return resultWithRawJson(request.id, '{}');
    }
    case 'tools/list':
      return resultWithRawJson(request.id, endpoint.catalogue.listResultJson((principal as Principal).scopes, urlView(ctx, request.id)));
    case 'tools/call':
      return callTool(
        ctx,
        endpoint,
        request,
        principal as Principal,
        { modern: false, protocolVersion, logLevel: DEFAULT_CLIENT_LOG_LEVEL },
        channel,
      );
    default:
      return serialize(jsonRpcError(request.id, ErrorCode.MethodNotFound, `Method not found: ${request.method.slice(0, 100)}`));
  }
}

/** How long a client may reuse a listing (tools/list, server/discover, …): a deploy reaches clients within this. */
const CACHE_TTL_MS = 300_000;

/** The methods of MCP 2026-07-28 served here; anything else (ping, logging/setLevel, initialize, …) is 404. */
const MODERN_METHODS: ReadonlySet<string> = new Set([
  'server/discover',
  'tools/list',
  'tools/call',
  'prompts/list',
  'prompts/get',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'completion/complete',
  'subscriptions/listen',
  ...TASK_METHODS,
]);

/** A modern result: `resultType`, the fields, and who answered in `_meta`. */
const modernResult = (id: RequestId, fields: Record<string, unknown>): string =>
  resultWithRawJson(
    id,
    `{"resultType":"complete",${JSON.stringify(fields).slice(1, -1)}${Object.keys(fields).length ? ',' : ''}"_meta":${SERVER_INFO_META}}`,
  );

/** server/discover, the same for every caller (so it answers without a token, and may be cached publicly). */
const DISCOVER_FIELDS = {
  supportedVersions: [...MODERN_VERSIONS],
  capabilities: { tools: {}, logging: {}, ...FEATURE_CAPABILITIES, extensions: { [TASKS_EXTENSION]: {} } },
  instructions: INSTRUCTIONS,
  ttlMs: CACHE_TTL_MS,
  cacheScope: 'public',
};

/** Answers one modern request (JSON-RPC errors of the method itself travel with HTTP 200). */
async function handleModernRequest(
  ctx: AppContext,
  endpoint: Endpoint,
  request: JSONRPCRequest,
  principal: Principal | undefined,
  envelope: ModernEnvelope,
  channel: ResponseChannel,
): Promise<string | undefined> {
  const { id } = request;
  if (FEATURE_METHODS.has(request.method)) {
    const era = { modern: true, protocolVersion: envelope.protocolVersion };
    return serveFeature(ctx, endpoint.services, request, principal as Principal, era, (fields) => modernResult(id, fields));
  }
  switch (request.method) {
    case 'server/discover':
      return modernResult(id, DISCOVER_FIELDS);
    case 'tools/list':
      return resultWithRawJson(id, endpoint.catalogue.modernListResultJson((principal as Principal).scopes, urlView(ctx, id)));
    case 'tools/call':
      return callTool(
        ctx,
        endpoint,
        request,
        principal as Principal,
        {
          modern: true,
          protocolVersion: envelope.protocolVersion,
          logLevel: envelope.logLevel,
          takesTask: envelope.extensions.has(TASKS_EXTENSION),
        },
        channel,
      );
    case 'tasks/get':
    case 'tasks/update':
    case 'tasks/cancel':
      return serveTaskMethod(endpoint.services, request, principal as Principal, ctx.state.requestId, (fields) => modernResult(id, fields));
    case 'subscriptions/listen':
      return listen(ctx, request, channel);
    default:
      return serialize(jsonRpcError(id, ErrorCode.MethodNotFound, `Method not found: ${request.method.slice(0, 100)}`));
  }
}

/** A comment line every so often keeps proxies from closing an idle subscription stream. */
const LISTEN_KEEPALIVE_MS = 15_000;

/**
 * subscriptions/listen: the acknowledgement first, naming the notification types honoured (none yet: the
 * catalogue does not change while a process runs, and there are no prompts or resources to watch), then an
 * open SSE stream with keep-alive comments until the client closes it. Answers nothing else.
 */
async function listen(ctx: AppContext, request: JSONRPCRequest, channel: ResponseChannel): Promise<string | undefined> {
  const filter = (request.params as { notifications?: unknown } | undefined)?.notifications;
  if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) {
    return serialize(jsonRpcError(request.id, ErrorCode.InvalidParams, 'Invalid params: params.notifications (an object) is required.'));
  }
  channel.notify({
    jsonrpc: '2.0',
    method: 'notifications/subscriptions/acknowledged',
    params: { _meta: { [META.subscriptionId]: request.id }, notifications: {} },
  });
  await new Promise<void>((resolve) => {
    // A client that left before the acknowledgement went out has nothing to keep open.
    if (!channel.isOpen) return resolve();
    const timer = setInterval(() => channel.comment('keepalive'), LISTEN_KEEPALIVE_MS);
    ctx.res.once('close', () => {
      clearInterval(timer);
      resolve();
    });
  });
  return undefined;
}

/** notifications/cancelled aborts the caller's own matching request; other notifications need nothing. */
function handleNotification(endpoint: Endpoint, notification: JSONRPCNotification, principal: Principal | undefined): void {
  if (notification.method !== 'notifications/cancelled' || !principal) return;
  const checked = cancelledParams(notification.params);
  if (!checked.ok) return;
  const { requestId, reason } = checked.params;
  if (requestId !== undefined) endpoint.inFlight.cancel(principal, requestId, reason ?? 'cancelled by the client');
}

/** One POST: transport checks, the message, the caller, then the answer (JSON, or an SSE stream). */
async function serve(ctx: AppContext, endpoint: Endpoint): Promise<void> {
  // The era: a modern version header says so before the body is read (for the codes of transport errors);
  // otherwise the body's `_meta` does. Everything else is served as the initialize-based revisions.
  const modernHeader = isModernVersionHeader(ctx.get('mcp-protocol-version'));
  checkHttp(ctx, endpoint, modernHeader);
  const { message, method, id } = parseMessage(await readBody(ctx, endpoint.bodyLimit, modernHeader));
  if (modernHeader || claimsModern(message)) {
    await serveModern(ctx, endpoint, message, method, id);
    return;
  }
  const protocolVersion = protocolVersionOf(ctx, method, id);
  const principal = await authenticate(ctx, endpoint, method, id, false);

  if (!('method' in message) || !('id' in message)) {
    // A notification, or a response to a request we never send: accepted, nothing to answer.
    accept(ctx, endpoint, message, principal);
    return;
  }
  await answer(ctx, (channel) => handleRequest(ctx, endpoint, message, principal, protocolVersion, channel));
}

/** A notification (cancellation acts on it) or a stray response: 202, no body. */
function accept(ctx: AppContext, endpoint: Endpoint, message: JSONRPCMessage, principal: Principal | undefined): void {
  if ('method' in message) handleNotification(endpoint, message, principal);
  ctx.status = 202;
  ctx.body = '';
  ctx.remove('content-type');
}

/**
 * Answers a request with what `handle` returns: plain JSON, or the last event of the SSE stream it opened.
 * `undefined` means the handler wrote (and ended) the response itself.
 */
async function answer(ctx: AppContext, handle: (channel: ResponseChannel) => Promise<string | undefined>): Promise<void> {
  const channel = new ResponseChannel(ctx.res, () => {
    ctx.status = 200;
    ctx.respond = false;
  });
  const response = await handle(channel);
  if (response === undefined) return;
  if (channel.isStreaming) {
    channel.endStream(response);
    return;
  }
  ctx.status = 200;
  ctx.type = 'application/json';
  ctx.body = response;
}

/** One modern POST: the revision's checks, then the caller, then the answer. */
async function serveModern(
  ctx: AppContext,
  endpoint: Endpoint,
  message: JSONRPCMessage,
  method: string | undefined,
  id: RequestId | null,
): Promise<void> {
  if (!('method' in message) || !('id' in message)) {
    // Notifications (cancellation) need no envelope; responses are never expected.
    accept(ctx, endpoint, message, await authenticate(ctx, endpoint, method, id, true));
    return;
  }
  const envelope = checkModernRequest(message, (name) => ctx.get(name), MODERN_METHODS);
  const principal = await authenticate(ctx, endpoint, method, id, true);
  await answer(ctx, (channel) => handleModernRequest(ctx, endpoint, message, principal, envelope, channel));
}

/**
 * The MCP endpoint (streamable HTTP, stateless): a Koa middleware answering POST on `path`.
 *
 * Each POST carries exactly one JSON-RPC message and is served on its own: nothing about a client is kept
 * between requests (no Mcp-Session-Id), so any process can serve any request, and no server or transport
 * object is shared between requests, so two clients that send the same JSON-RPC id at once each get their
 * own answer (cf. SDK advisory CVE-2026-25536).
 *
 * We parse and shape messages with the MCP SDK's zod schemas and types, but do not use its
 * StreamableHTTPServerTransport: it converts every request to web-standard objects and costs about ten
 * times a bare handler (README.md, "Performance").
 */
export function createMcpEndpoint(options: McpEndpointOptions): Middleware<AppState> {
  const { services } = options;
  const path = options.path ?? '/v1';
  const tools = options.tools ?? generatedTools;
  const metadataUrl = resourceMetadataUrl(services.config, path);
  const endpoint: Endpoint = {
    services,
    path,
    bodyLimit: options.bodyLimit ?? MCP_BODY_LIMIT,
    tools,
    catalogue: new ToolCatalogue(tools.tools, { ttlMs: CACHE_TTL_MS, _meta: { [META.serverInfo]: SERVER_INFO } }),
    inFlight: new InFlightRequests(),
    hostAllowed: hostChecker(services.config.publicUrl),
    originAllowed: originChecker(services.config.allowedOrigins),
    challenge: (params) => bearerChallenge(metadataUrl, params),
  };
  return async (ctx, next) => {
    if (ctx.path !== path) {
      await next();
      return;
    }
    ctx.state.route = path;
    try {
      await serve(ctx, endpoint);
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
