import { pascalCase, toolSchemaNames } from './bundle.js';
import { koaPath, type OperationInfo } from './operations.js';
import type { JsonObject, ToolSpec } from './specs.js';

const json = (value: unknown) => JSON.stringify(value, null, 2);
const quote = (s: string) => JSON.stringify(s);
const identifier = (s: string) => s.replace(/[^a-z0-9]+/gi, '_');

/** Validator export names, shared by the emitters and the runtime lookups. */
export const validatorName = {
  toolInput: (tool: string) => `tool_${tool}_input`,
  toolOutput: (tool: string) => `tool_${tool}_output`,
  path: (op: string) => `op_${op}_path`,
  query: (op: string) => `op_${op}_query`,
  body: (op: string, contentType: string) => `op_${op}_body_${identifier(contentType)}`,
  response: (op: string, status: string, contentType: string) => `op_${op}_response_${status}_${identifier(contentType)}`,
};

export function catalogueModule(tools: { spec: ToolSpec; input: JsonObject; output: JsonObject; served: JsonObject }[]): string {
  const entries = tools.map(({ spec, input, output, served }) =>
    json({
      name: spec.name,
      title: spec.title,
      description: spec.description,
      scope: spec.scope,
      annotations: spec.annotations,
      inputSchema: input,
      outputSchema: output,
      served: { inputSchema: served, ...(spec.serveOutputSchema ? { outputSchema: output } : {}) },
      rest: { method: spec.rest.method.toUpperCase(), path: spec.rest.path, operationId: spec.rest.operationId },
    }),
  );
  return `import type { ToolName } from './handlers.js';

export interface ToolAnnotations {
  title?: string;
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

type ObjectSchema = { type: 'object'; [keyword: string]: unknown };

/**
 * One tool with self-contained schemas, its scope and REST mirror, and what \`tools/list\` serves of it: the input
 * schema without validation-only keywords and, only where clients gain from it, the output schema.
 */
export interface ToolDefinition {
  name: ToolName;
  title: string;
  description: string;
  scope: 'read' | 'write';
  annotations: ToolAnnotations;
  inputSchema: ObjectSchema;
  outputSchema: ObjectSchema;
  served: { inputSchema: ObjectSchema; outputSchema?: ObjectSchema };
  rest: { method: string; path: string; operationId: string };
}

export const toolCatalogue: readonly ToolDefinition[] = [
${entries.join(',\n')}
];
`;
}

export function routesModule(ops: OperationInfo[]): string {
  const rows = ops.map((op) => {
    const bodies = [...(op.requestBody?.content.keys() ?? [])];
    return json({
      operationId: op.operationId,
      method: op.method,
      path: op.path,
      koaPath: koaPath(op.path),
      kind: op.kind,
      ...(op.tool ? { tool: op.tool } : {}),
      ...(op.scope ? { scope: op.scope } : {}),
      security: op.security,
      pathParams: op.pathParams.map((p) => p.name),
      queryParams: op.queryParams.map((p) => p.name),
      validators: {
        ...(op.pathParams.length ? { path: validatorName.path(op.operationId) } : {}),
        ...(op.queryParams.length ? { query: validatorName.query(op.operationId) } : {}),
      },
      requestBody: op.requestBody
        ? {
            required: op.requestBody.required,
            // Tool routes validate the merged input with the tool's own validator.
            content: Object.fromEntries(bodies.map((type) => [type, op.kind === 'tool' ? null : validatorName.body(op.operationId, type)])),
          }
        : null,
      responses: Object.fromEntries(
        [...op.responses].map(([status, content]) => [
          status,
          Object.fromEntries(
            [...content.keys()].map((type) => [type, type.includes('json') ? validatorName.response(op.operationId, status, type) : null]),
          ),
        ]),
      ),
    });
  });
  return `import type { ToolName } from './handlers.js';
import type validators from './validators.cjs';
import type paramValidators from './param-validators.cjs';
import type responseValidators from './response-validators.cjs';

export type ValidatorName = keyof typeof validators;
export type ParamValidatorName = keyof typeof paramValidators;
export type ResponseValidatorName = keyof typeof responseValidators;

/** One REST route of the bundled contract; \`kind\` says which handler map serves it. */
export interface RouteDefinition {
  operationId: string;
  method: 'get' | 'put' | 'post' | 'delete' | 'patch';
  path: string;
  koaPath: string;
  kind: 'tool' | 'typed' | 'koa';
  tool?: ToolName;
  scope?: 'read' | 'write';
  /** null: public; otherwise a bearer token with these scopes is needed. */
  security: { scopes: ('read' | 'write')[] } | null;
  pathParams: string[];
  queryParams: string[];
  validators: { path?: ParamValidatorName; query?: ParamValidatorName };
  requestBody: { required: boolean; content: Record<string, ValidatorName | null> } | null;
  /** Status → content type → response validator (JSON bodies only; used by the tests). */
  responses: Record<string, Record<string, ResponseValidatorName | null>>;
}

export const routes: readonly RouteDefinition[] = [
${rows.join(',\n')}
];
`;
}

/** Names (in tool-types.ts) of the validated query and body types of typed operations whose validator fills defaults in. */
export type ValidatedOperationTypes = Map<string, { query?: string; body: Map<string, string> }>;

/** Handler-map types: a missing, extra or wrongly typed implementation is a compile error. */
export function handlersModule(tools: ToolSpec[], ops: OperationInfo[], validated: ValidatedOperationTypes): string {
  const toolRows = tools.map((t) => {
    const n = toolSchemaNames(t);
    return `  ${t.name}: { input: T.${n.input}; arguments: T.${pascalCase(t.name)}Arguments; output: T.${n.output} };`;
  });
  const typed = ops.filter((op) => op.kind === 'typed');
  const koa = ops.filter((op) => op.kind === 'koa');
  const opRows = typed.map((op) => {
    const o = `operations[${quote(op.operationId)}]`;
    const params = op.pathParams.length ? `NonNullable<${o}['parameters']['path']>` : 'Record<string, never>';
    const own = validated.get(op.operationId);
    const query = own?.query
      ? `T.${own.query}`
      : op.queryParams.length
        ? `NonNullable<${o}['parameters']['query']>`
        : 'Record<string, never>';
    const bodyTypes = [...(op.requestBody?.content.keys() ?? [])].map((type) => {
      const name = own?.body.get(type);
      return name ? `T.${name}` : `NonNullable<${o}['requestBody']>['content'][${quote(type)}]`;
    });
    const body = bodyTypes.length ? bodyTypes.join(' | ') + (op.requestBody?.required ? '' : ' | undefined') : 'undefined';
    const responses = [...op.responses]
      .filter(([status]) => /^\d{3}$/.test(status))
      .map(([status, content]) => {
        const types = [...content.keys()];
        const bodyType = types.length
          ? types.map((type) => `${o}['responses'][${status}]['content'][${quote(type)}]`).join(' | ')
          : 'undefined';
        return `{ status: ${status}; body: ${bodyType}; headers?: Record<string, string> }`;
      });
    return `  ${op.operationId}: {
    params: ${params};
    query: ${query};
    body: ${body};
    response: ${responses.join(' | ') || 'never'};
  };`;
  });
  return `import type { ToolContext, OperationContext, KoaOperationHandler } from '../operations/context.js';
import type { operations } from './openapi.js';
import type * as T from './tool-types.js';

/**
 * Each tool's input as its handler gets it (validated; fields with a declared default are always present), its
 * arguments as a caller sends them (those fields optional), and its output.
 */
export interface ToolIO {
${toolRows.join('\n')}
}
export type ToolName = keyof ToolIO;
export type ToolHandler<N extends ToolName> = (input: ToolIO[N]['input'], ctx: ToolContext) => Promise<ToolIO[N]['output']>;
/** One implementation per tool, served as an MCP tool and as its REST route. */
export type ToolHandlers = { [N in ToolName]: ToolHandler<N> };

/** Request and response types of the operations that are not tools (query and body as validated: defaults filled in). */
export interface OperationIO {
${opRows.join('\n')}
}
export type OperationId = keyof OperationIO;
export interface OperationRequest<K extends OperationId> {
  params: OperationIO[K]['params'];
  query: OperationIO[K]['query'];
  body: OperationIO[K]['body'];
}
export type OperationHandler<K extends OperationId> = (
  request: OperationRequest<K>,
  ctx: OperationContext,
) => Promise<OperationIO[K]['response']>;
export type OperationHandlers = { [K in OperationId]: OperationHandler<K> };

/** Operations served by Koa middleware of their own (HTML pages, redirects, form posts). */
export type KoaOperationId = ${koa.length ? koa.map((op) => quote(op.operationId)).join(' | ') : 'never'};
export type KoaOperationHandlers = { [K in KoaOperationId]: KoaOperationHandler };
`;
}
