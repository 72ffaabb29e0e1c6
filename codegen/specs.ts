import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

/** A JSON value as read from a spec file. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface ToolSpec {
  file: string;
  name: string;
  title: string;
  description: string;
  scope: 'read' | 'write';
  annotations: JsonObject;
  rest: { method: 'get' | 'post' | 'put' | 'patch' | 'delete'; path: string; operationId: string; tag?: string };
  input: JsonObject;
  output: JsonObject;
  /** Whether `tools/list` serves the output schema: only where clients gain from it (tabular results). */
  serveOutputSchema: boolean;
}

export interface Specs {
  root: string;
  openapi: JsonObject;
  tools: ToolSpec[];
  /** Shared schemas by file path, also reachable by their `$id`. */
  schemas: Map<string, JsonObject>;
}

export class SpecError extends Error {}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function readSpecFile(file: string): JsonObject {
  const text = fs.readFileSync(file, 'utf8');
  const doc: unknown = file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  if (!isObject(doc)) throw new SpecError(`${file}: expected an object at the top level`);
  return doc;
}

const TOOL_NAME = /^[a-z][a-z0-9_]{0,63}$/;
const TOOL_KEYS = new Set(['name', 'title', 'description', 'scope', 'annotations', 'rest', 'input', 'output', 'serve_output_schema']);

function str(doc: JsonObject, key: string, file: string): string {
  const value = doc[key];
  if (typeof value !== 'string' || value === '') throw new SpecError(`${file}: "${key}" must be a non-empty string`);
  return value;
}

function readTool(file: string): ToolSpec {
  const doc = readSpecFile(file);
  for (const key of Object.keys(doc)) {
    if (!TOOL_KEYS.has(key)) throw new SpecError(`${file}: unknown key "${key}" (allowed: ${[...TOOL_KEYS].join(', ')})`);
  }
  const name = str(doc, 'name', file);
  if (!TOOL_NAME.test(name)) throw new SpecError(`${file}: tool name "${name}" must match ${TOOL_NAME}`);
  if (path.basename(file).replace(/\.(ya?ml|json)$/, '') !== name) {
    throw new SpecError(`${file}: the file must be named after its tool ("${name}.yaml")`);
  }
  const scope = doc.scope;
  if (scope !== 'read' && scope !== 'write') throw new SpecError(`${file}: "scope" must be read or write`);
  const { annotations, rest, input, output } = doc;
  if (!isObject(annotations)) throw new SpecError(`${file}: "annotations" must be an object`);
  if (!isObject(rest)) throw new SpecError(`${file}: "rest" must be an object with method, path and operationId`);
  if (!isObject(input) || input.type !== 'object') throw new SpecError(`${file}: "input" must be an object schema`);
  if (!isObject(output) || output.type !== 'object') throw new SpecError(`${file}: "output" must be an object schema`);
  const method = rest.method;
  if (method !== 'get' && method !== 'post' && method !== 'put' && method !== 'patch' && method !== 'delete') {
    throw new SpecError(`${file}: rest.method must be get, post, put, patch or delete`);
  }
  const restPath = str(rest, 'path', file);
  if (!restPath.startsWith('/api/v1/')) throw new SpecError(`${file}: rest.path must start with /api/v1/`);
  const tag = typeof rest.tag === 'string' ? rest.tag : undefined;
  const serveOutputSchema = doc.serve_output_schema ?? false;
  if (typeof serveOutputSchema !== 'boolean') throw new SpecError(`${file}: "serve_output_schema" must be true or false`);
  return {
    file,
    name,
    title: str(doc, 'title', file),
    description: str(doc, 'description', file),
    scope,
    annotations,
    rest: { method, path: restPath, operationId: str(rest, 'operationId', file), ...(tag ? { tag } : {}) },
    input,
    output,
    serveOutputSchema,
  };
}

function listSpecFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

export function loadSpecs(root: string): Specs {
  const openapi = readSpecFile(path.join(root, 'openapi.yaml'));
  const tools = listSpecFiles(path.join(root, 'tools')).map(readTool);
  const seen = new Map<string, string>();
  for (const tool of tools) {
    for (const key of [tool.name, tool.rest.operationId, `${tool.rest.method} ${tool.rest.path}`]) {
      const other = seen.get(key);
      if (other) throw new SpecError(`${tool.file}: "${key}" is already used by ${other}`);
      seen.set(key, tool.file);
    }
  }
  const schemas = new Map<string, JsonObject>();
  for (const file of listSpecFiles(path.join(root, 'schemas'))) {
    const schema = readSpecFile(file);
    schemas.set(path.resolve(file), schema);
    if (typeof schema.$id === 'string') schemas.set(schema.$id, schema);
  }
  return { root, openapi, tools, schemas };
}
