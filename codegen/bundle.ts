import path from 'node:path';
import { bundleRefs, ComponentRegistry, dereference } from './refs.js';
import { isObject, SpecError, type Json, type JsonObject, type Specs, type ToolSpec } from './specs.js';

export function pascalCase(name: string): string {
  return name.replace(/(^|[_-])([a-z0-9])/g, (_m, _sep: string, c: string) => c.toUpperCase());
}

export const toolSchemaNames = (tool: ToolSpec) => ({
  input: `${pascalCase(tool.name)}Input`,
  output: `${pascalCase(tool.name)}Output`,
});

/** A tool's input and output with every `$ref` inlined. */
export function toolSchemas(tool: ToolSpec, specs: Specs): { input: JsonObject; output: JsonObject } {
  const doc = { input: tool.input, output: tool.output };
  const input = dereference(tool.input, tool.file, doc, specs);
  const output = dereference(tool.output, tool.file, doc, specs);
  if (!isObject(input) || !isObject(output)) throw new SpecError(`${tool.file}: input and output must be objects`);
  return { input, output };
}

const ref = (name: string): JsonObject => ({ $ref: `#/components/schemas/${name}` });

function pathParams(tool: ToolSpec): string[] {
  return [...tool.rest.path.matchAll(/\{([a-z_][a-z0-9_]*)\}/g)].map((m) => m[1] ?? '');
}

/**
 * The REST operation that mirrors a tool: path params and query (GET/DELETE) or a JSON body from its input
 * (`input` as the contract has it, shared schemas by `$ref`; `full` the same with every `$ref` inlined).
 */
function toolOperation(tool: ToolSpec, input: JsonObject, full: JsonObject): JsonObject {
  const properties = isObject(input.properties) ? input.properties : {};
  const fullProperties = isObject(full.properties) ? full.properties : {};
  const required = new Set(Array.isArray(input.required) ? input.required : []);
  const inPath = pathParams(tool);
  for (const name of inPath) {
    if (!required.has(name) || !properties[name]) {
      throw new SpecError(`${tool.file}: path parameter {${name}} must be a required input property`);
    }
  }
  const parameters: Json[] = inPath.map((name) => ({
    name,
    in: 'path',
    required: true,
    schema: properties[name] ?? {},
  }));
  const names = toolSchemaNames(tool);
  const operation: JsonObject = {
    operationId: tool.rest.operationId,
    summary: tool.title,
    description: `${tool.description}\n\nThe REST mirror of the MCP tool \`${tool.name}\` (scope \`${tool.scope}\`).`,
    tags: [tool.rest.tag ?? 'tools'],
    'x-tool': tool.name,
    'x-scope': tool.scope,
    security: [{ oauth2: [tool.scope] }],
  };
  const rest = Object.keys(properties).filter((p) => !inPath.includes(p));
  if (tool.rest.method === 'get' || tool.rest.method === 'delete') {
    for (const name of rest) {
      const schema = fullProperties[name] ?? {};
      if (isObject(schema) && (schema.type === 'object' || schema.type === 'array')) {
        throw new SpecError(`${tool.file}: input "${name}" is an ${String(schema.type)}; use a POST route for it`);
      }
      parameters.push({ name, in: 'query', required: required.has(name), schema: properties[name] ?? {} });
    }
  } else if (rest.length > 0 || inPath.length === 0) {
    operation.requestBody = {
      required: true,
      content: { 'application/json': { schema: inPath.length === 0 ? ref(names.input) : bodySchema(input, inPath) } },
    };
  }
  if (parameters.length > 0) operation.parameters = parameters;
  operation.responses = {
    '200': { description: 'The tool result.', content: { 'application/json': { schema: ref(names.output) } } },
    '400': { $ref: '#/components/responses/BadRequest' },
    default: {
      description: 'An error, with a stable `code`.',
      content: { 'application/problem+json': { schema: ref('Problem') } },
    },
  };
  return operation;
}

function bodySchema(input: JsonObject, inPath: string[]): JsonObject {
  const properties = isObject(input.properties) ? { ...input.properties } : {};
  for (const name of inPath) delete properties[name];
  const required = (Array.isArray(input.required) ? input.required : []).filter(
    (name) => typeof name === 'string' && !inPath.includes(name),
  );
  return { ...input, properties, required };
}

/** The published contract and the tool schemas in it. */
export interface BundledContract {
  /** openapi.yaml with one operation per tool; shared schemas are components, reached by `$ref`. */
  openapi: JsonObject;
  /** Each tool's input and output as the contract has them (shared schemas by `$ref` into `openapi`). */
  tools: Map<string, { input: JsonObject; output: JsonObject }>;
  /** The components that are shared schemas of specs/schemas/ (`x-component`), by name. */
  shared: string[];
}

const isRefTo = (node: Json | undefined, name: string) =>
  isObject(node) && Object.keys(node).length === 1 && node.$ref === `#/components/schemas/${name}`;

/**
 * The published contract: openapi.yaml with other files bundled in, plus one operation per tool. A shared schema
 * named by `x-component` is one component that every use refers to; anything else of another file is inlined.
 */
export function bundleContract(specs: Specs): BundledContract {
  const file = path.join(specs.root, 'openapi.yaml');
  const registry = new ComponentRegistry();
  const bundled = bundleRefs(specs.openapi, { file, doc: specs.openapi }, specs, registry, true);
  if (!isObject(bundled) || !isObject(bundled.paths) || !isObject(bundled.components)) {
    throw new SpecError(`${file}: needs "paths" and "components"`);
  }
  const paths: JsonObject = { ...bundled.paths };
  const components = bundled.components;
  const own: JsonObject = isObject(components.schemas) ? components.schemas : {};
  const toolComponents: JsonObject = {};
  const tools: BundledContract['tools'] = new Map();
  for (const tool of specs.tools) {
    const doc = { input: tool.input, output: tool.output };
    const bundle = (node: JsonObject) => {
      const out = bundleRefs(node, { file: tool.file, doc }, specs, registry, false);
      if (!isObject(out)) throw new SpecError(`${tool.file}: input and output must be objects`);
      return out;
    };
    const input = bundle(tool.input);
    const output = bundle(tool.output);
    tools.set(tool.name, { input, output });
    const names = toolSchemaNames(tool);
    for (const name of [names.input, names.output]) {
      if (own[name]) throw new SpecError(`${tool.file}: component schema "${name}" already exists in openapi.yaml`);
    }
    // The input is a component only where it is the whole body; otherwise it is spread over parameters.
    if (tool.rest.method !== 'get' && tool.rest.method !== 'delete' && !tool.rest.path.includes('{')) toolComponents[names.input] = input;
    toolComponents[names.output] = output;
    const existing = paths[tool.rest.path];
    const item: JsonObject = isObject(existing) ? { ...existing } : {};
    if (item[tool.rest.method]) throw new SpecError(`${tool.file}: ${tool.rest.method} ${tool.rest.path} already exists`);
    item[tool.rest.method] = toolOperation(tool, input, toolSchemas(tool, specs).input);
    paths[tool.rest.path] = item;
  }
  // openapi.yaml may list a shared schema among its components (`Problem: $ref: ./schemas/problem.yaml`): that
  // entry, now a $ref to itself, becomes the schema.
  const schemas: JsonObject = {};
  for (const [name, schema] of Object.entries(own)) {
    const shared = registry.schemas.get(name);
    if (shared && !isRefTo(schema, name)) {
      throw new SpecError(`${file}: components/schemas/${name} is also the x-component name of a shared schema`);
    }
    schemas[name] = shared ?? schema;
  }
  const shared = [...registry.schemas.keys()].sort();
  for (const name of shared) {
    if (toolComponents[name]) throw new SpecError(`x-component "${name}" is also the name of a tool's schema`);
    schemas[name] = registry.schemas.get(name) ?? {};
  }
  Object.assign(schemas, toolComponents);
  const sortedPaths = Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b)));
  return { openapi: { ...bundled, paths: sortedPaths, components: { ...components, schemas } }, tools, shared };
}

/** The published contract (see bundleContract). */
export function bundleOpenApi(specs: Specs): JsonObject {
  return bundleContract(specs).openapi;
}
