import path from 'node:path';
import { dereference, resolveRefs } from './refs.js';
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

/** The REST operation that mirrors a tool: path params and query (GET/DELETE) or a JSON body from its input. */
function toolOperation(tool: ToolSpec, input: JsonObject): JsonObject {
  const properties = isObject(input.properties) ? input.properties : {};
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
      const schema = properties[name] ?? {};
      if (isObject(schema) && (schema.type === 'object' || schema.type === 'array')) {
        throw new SpecError(`${tool.file}: input "${name}" is an ${String(schema.type)}; use a POST route for it`);
      }
      parameters.push({ name, in: 'query', required: required.has(name), schema });
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

/** The published contract: openapi.yaml with other files inlined, plus one operation per tool. */
export function bundleOpenApi(specs: Specs): JsonObject {
  const file = path.join(specs.root, 'openapi.yaml');
  const bundled = resolveRefs(specs.openapi, { file, doc: specs.openapi }, specs, true);
  if (!isObject(bundled) || !isObject(bundled.paths) || !isObject(bundled.components)) {
    throw new SpecError(`${file}: needs "paths" and "components"`);
  }
  const paths: JsonObject = { ...bundled.paths };
  const components = bundled.components;
  const schemas: JsonObject = isObject(components.schemas) ? { ...components.schemas } : {};
  for (const tool of specs.tools) {
    const { input, output } = toolSchemas(tool, specs);
    const names = toolSchemaNames(tool);
    for (const name of [names.input, names.output]) {
      if (schemas[name]) throw new SpecError(`${tool.file}: component schema "${name}" already exists in openapi.yaml`);
    }
    // The input is a component only where it is the whole body; otherwise it is spread over parameters.
    if (tool.rest.method !== 'get' && tool.rest.method !== 'delete' && !tool.rest.path.includes('{')) schemas[names.input] = input;
    schemas[names.output] = output;
    const existing = paths[tool.rest.path];
    const item: JsonObject = isObject(existing) ? { ...existing } : {};
    if (item[tool.rest.method]) throw new SpecError(`${tool.file}: ${tool.rest.method} ${tool.rest.path} already exists`);
    item[tool.rest.method] = toolOperation(tool, input);
    paths[tool.rest.path] = item;
  }
  const sortedPaths = Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b)));
  return { ...bundled, paths: sortedPaths, components: { ...components, schemas } };
}
