import path from 'node:path';
import { isObject, readSpecFile, SpecError, type Json, type JsonObject, type Specs } from './specs.js';

/** Where a schema was read from: refs inside it resolve against this file and document. */
interface Origin {
  file: string;
  doc: JsonObject;
}

function pointer(doc: Json, fragment: string, where: string): Json {
  if (fragment === '' || fragment === '/') return doc;
  let node: Json = doc;
  for (const raw of fragment.replace(/^\//, '').split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    const next: Json | undefined = isObject(node) ? node[key] : Array.isArray(node) ? node[Number(key)] : undefined;
    if (next === undefined) throw new SpecError(`${where}: $ref pointer "#${fragment}" does not resolve`);
    node = next;
  }
  return node;
}

function loadTarget(ref: string, from: Origin, specs: Specs): { origin: Origin; fragment: string } {
  const [location = '', fragment = ''] = ref.split('#', 2);
  const byId = specs.schemas.get(location);
  if (byId) return { origin: { file: location, doc: byId }, fragment };
  if (/^[a-z]+:/i.test(location)) throw new SpecError(`${from.file}: unknown schema id in $ref "${ref}"`);
  const file = path.resolve(path.dirname(from.file), location);
  const doc = specs.schemas.get(file) ?? readSpecFile(file);
  return { origin: { file, doc }, fragment };
}

/** Drops keywords that would make an inlined copy a separate schema resource (duplicate ids across validators). */
function withoutResourceKeywords(node: JsonObject): JsonObject {
  const { $id: _id, $schema: _schema, ...rest } = node;
  return rest;
}

/**
 * Replaces `$ref`s with the schemas they point to. With `keepInternal`, refs inside the root document
 * (`#/components/...`) stay as they are and only refs to other files and `$id`s are inlined.
 */
export function resolveRefs(node: Json, from: Origin, specs: Specs, keepInternal: boolean, stack: string[] = []): Json {
  if (Array.isArray(node)) return node.map((item) => resolveRefs(item, from, specs, keepInternal, stack));
  if (!isObject(node)) return node;
  const ref = node.$ref;
  if (typeof ref === 'string' && !(keepInternal && ref.startsWith('#') && stack.length === 0)) {
    const { $ref: _ref, ...siblings } = node;
    const target = ref.startsWith('#') ? { origin: from, fragment: ref.slice(1) } : loadTarget(ref, from, specs);
    const key = `${target.origin.file}#${target.fragment}`;
    if (stack.includes(key)) throw new SpecError(`${from.file}: recursive $ref "${ref}" is not supported`);
    const resolved = resolveRefs(pointer(target.origin.doc, target.fragment, from.file), target.origin, specs, false, [...stack, key]);
    if (!isObject(resolved)) return resolved;
    return { ...withoutResourceKeywords(resolved), ...resolveObject(siblings, from, specs, keepInternal, stack) };
  }
  return resolveObject(node, from, specs, keepInternal, stack);
}

function resolveObject(node: JsonObject, from: Origin, specs: Specs, keepInternal: boolean, stack: string[]): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) out[key] = resolveRefs(value, from, specs, keepInternal, stack);
  return out;
}

/** A fully self-contained copy of a schema: no `$ref` left anywhere (what tools/list and ajv get). */
export function dereference(node: Json, file: string, doc: JsonObject, specs: Specs): Json {
  return resolveRefs(node, { file, doc }, specs, false);
}

/** Strips OpenAPI-only and vendor keywords so that a schema is plain JSON Schema for ajv and MCP clients. */
export function plainSchema(node: Json): Json {
  if (Array.isArray(node)) return node.map(plainSchema);
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('x-') || key === 'example') continue;
    // `properties` maps names to schemas: keep names that look like keywords.
    out[key] = key === 'properties' && isObject(value) ? mapValues(value, plainSchema) : plainSchema(value);
  }
  return withoutResourceKeywords(out);
}

function mapValues(obj: JsonObject, fn: (v: Json) => Json): JsonObject {
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, fn(v)]));
}
