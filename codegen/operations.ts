import { dereference, plainSchema } from './refs.js';
import { isObject, SpecError, type JsonObject, type Specs } from './specs.js';

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export interface Param {
  name: string;
  required: boolean;
  schema: JsonObject;
}

export interface OperationInfo {
  operationId: string;
  method: HttpMethod;
  path: string;
  /** `tool`: served by the tool's handler; `typed`: a typed operation handler; `koa`: a raw Koa handler (pages, redirects, forms). */
  kind: 'tool' | 'typed' | 'koa';
  tool: string | undefined;
  scope: 'read' | 'write' | undefined;
  pathParams: Param[];
  queryParams: Param[];
  /** null: public; otherwise a bearer token is needed, with every listed scope. */
  security: { scopes: string[] } | null;
  /** Request content type → self-contained schema. */
  requestBody: { required: boolean; content: Map<string, JsonObject> } | undefined;
  /** Status → content type → self-contained schema (undefined: no schema, e.g. a redirect). */
  responses: Map<string, Map<string, JsonObject>>;
}

/** Reads every operation of the bundled document, with its schemas made self-contained. */
export function listOperations(bundle: JsonObject, specs: Specs): OperationInfo[] {
  const full = (node: unknown, where: string): JsonObject => {
    const resolved = plainSchema(dereference(node as JsonObject, 'openapi.yaml', bundle, specs));
    if (!isObject(resolved)) throw new SpecError(`${where}: expected a schema object`);
    return resolved;
  };
  const ops: OperationInfo[] = [];
  const ids = new Set<string>();
  for (const [path, item] of Object.entries(isObject(bundle.paths) ? bundle.paths : {})) {
    if (!isObject(item)) continue;
    for (const method of HTTP_METHODS) {
      const op = item[method];
      if (!isObject(op)) continue;
      const where = `${method.toUpperCase()} ${path}`;
      const operationId = op.operationId;
      if (typeof operationId !== 'string' || !/^[a-z][A-Za-z0-9]*$/.test(operationId)) {
        throw new SpecError(`${where}: needs an operationId in camelCase`);
      }
      if (ids.has(operationId)) throw new SpecError(`${where}: operationId "${operationId}" is used twice`);
      ids.add(operationId);
      const params = (Array.isArray(op.parameters) ? op.parameters : []).map((p) => full(p, where));
      const toParam = (p: JsonObject): Param => ({
        name: typeof p.name === 'string' ? p.name : '',
        required: p.required === true,
        schema: full(p.schema ?? {}, where),
      });
      let requestBody: OperationInfo['requestBody'];
      if (isObject(op.requestBody)) {
        const body = full(op.requestBody, where);
        const content = new Map<string, JsonObject>();
        for (const [type, media] of Object.entries(isObject(body.content) ? body.content : {})) {
          content.set(type, isObject(media) && isObject(media.schema) ? media.schema : {});
        }
        requestBody = { required: body.required === true, content };
      }
      const responses = new Map<string, Map<string, JsonObject>>();
      for (const [status, response] of Object.entries(isObject(op.responses) ? op.responses : {})) {
        const resolved = full(response, where);
        const content = new Map<string, JsonObject>();
        for (const [type, media] of Object.entries(isObject(resolved.content) ? resolved.content : {})) {
          if (isObject(media) && isObject(media.schema)) content.set(type, media.schema);
        }
        responses.set(status, content);
      }
      const tool = typeof op['x-tool'] === 'string' ? op['x-tool'] : undefined;
      const security = readSecurity(op.security ?? bundle.security, where);
      const handler = op['x-handler'];
      const scope = op['x-scope'];
      ops.push({
        operationId,
        method,
        path,
        kind: tool ? 'tool' : handler === 'koa' ? 'koa' : 'typed',
        tool,
        scope: scope === 'read' || scope === 'write' ? scope : undefined,
        security,
        pathParams: params.filter((p) => p.in === 'path').map(toParam),
        queryParams: params.filter((p) => p.in === 'query').map(toParam),
        requestBody,
        responses,
      });
    }
  }
  return ops;
}

/**
 * An operation's security: `[]` makes it public; one `oauth2` requirement names the scopes it needs.
 * Alternatives (several requirement objects) are not supported: one way to authenticate keeps it simple.
 */
function readSecurity(security: unknown, where: string): { scopes: string[] } | null {
  if (security === undefined) throw new SpecError(`${where}: no security requirement (set \`security: []\` for a public route)`);
  if (!Array.isArray(security)) throw new SpecError(`${where}: security must be a list`);
  if (security.length === 0) return null;
  const [requirement, ...others] = security as unknown[];
  if (others.length > 0 || !isObject(requirement) || !Array.isArray(requirement.oauth2) || Object.keys(requirement).length !== 1) {
    throw new SpecError(`${where}: security must be [] or one \`oauth2: [scopes]\` requirement`);
  }
  const scopes = requirement.oauth2.map(String);
  for (const scope of scopes) {
    if (scope !== 'read' && scope !== 'write') throw new SpecError(`${where}: unknown scope "${scope}"`);
  }
  return { scopes };
}

/** An object schema for a set of parameters, validated after coercion from strings. */
export function paramsSchema(params: Param[]): JsonObject {
  return {
    type: 'object',
    properties: Object.fromEntries(params.map((p) => [p.name, p.schema])),
    required: params.filter((p) => p.required).map((p) => p.name),
    additionalProperties: false,
  };
}

export function koaPath(path: string): string {
  return path.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, ':$1');
}
