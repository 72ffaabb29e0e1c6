import type { JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import { abortWhenClientLeaves } from '../http/client-gone.js';
import type { AppContext, Services } from '../operations/context.js';
import type { Principal } from '../oauth/principal.js';
import { complete } from './completions.js';
import { FeatureError, type FeatureCall } from './feature-call.js';
import { PROMPT_LIST, getPrompt } from './prompts.js';
import { jsonRpcError, serialize } from './protocol.js';
import { listResources, readResource, RESOURCE_TEMPLATES } from './resources.js';

// The dispatch of resources/*, prompts/* and completion/complete, for both protocol eras.

export const FEATURE_METHODS: ReadonlySet<string> = new Set([
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'prompts/list',
  'prompts/get',
  'completion/complete',
]);

/** What the server declares for them (initialize and server/discover). */
export const FEATURE_CAPABILITIES = { prompts: {}, resources: {}, completions: {} } as const;

/**
 * Caching hints of the modern revision (server/utilities/caching): the prompt and template lists are the
 * same for everyone; the environment's resources are per token and change as people work.
 */
const LIST_TTL_MS = 300_000;
const DATA_TTL_MS = 60_000;
const CACHE_HINTS: Record<string, { ttlMs: number; cacheScope: 'public' | 'private' }> = {
  'prompts/list': { ttlMs: LIST_TTL_MS, cacheScope: 'public' },
  'resources/templates/list': { ttlMs: LIST_TTL_MS, cacheScope: 'public' },
  'resources/list': { ttlMs: DATA_TTL_MS, cacheScope: 'private' },
  'resources/read': { ttlMs: DATA_TTL_MS, cacheScope: 'private' },
};

export interface FeatureEra {
  modern: boolean;
  protocolVersion: string;
}

async function resultOf(call: FeatureCall, method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
  switch (method) {
    case 'resources/list':
      return listResources(call, params.cursor);
    case 'resources/templates/list':
      return { resourceTemplates: RESOURCE_TEMPLATES };
    case 'resources/read':
      return readResource(call, params.uri);
    case 'prompts/list':
      return { prompts: PROMPT_LIST };
    case 'prompts/get':
      return getPrompt(params.name, params.arguments);
    default:
      return complete(call, params);
  }
}

/**
 * Answers one of FEATURE_METHODS: `reply` wraps the result fields as the era wants them (modern: resultType
 * and serverInfo); errors of the method are JSON-RPC errors, a missing scope is thrown as HTTP 403.
 */
export async function serveFeature(
  ctx: AppContext,
  services: Services,
  request: JSONRPCRequest,
  principal: Principal,
  era: FeatureEra,
  reply: (fields: Record<string, unknown>) => string,
): Promise<string> {
  const controller = new AbortController();
  const stopWatching = abortWhenClientLeaves(ctx.res, controller);
  const call: FeatureCall = {
    services,
    principal,
    requestId: ctx.state.requestId,
    id: request.id,
    signal: controller.signal,
    ...era,
  };
  try {
    const fields = await resultOf(call, request.method, request.params ?? {});
    const hints = era.modern ? CACHE_HINTS[request.method] : undefined;
    return reply(hints ? { ...fields, ...hints } : fields);
  } catch (error) {
    if (!(error instanceof FeatureError)) throw error;
    return serialize(jsonRpcError(request.id, error.code, error.message, error.data));
  } finally {
    stopWatching();
  }
}
