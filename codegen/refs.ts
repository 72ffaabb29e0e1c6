import path from 'node:path';
import { isObject, readSpecFile, SpecError, type Json, type JsonObject, type Specs } from './specs.js';

/** Where a schema was read from: refs inside it resolve against this file and document. */
export interface Origin {
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

/** The keyword that names a shared schema in the published contract (`components/schemas/<name>`). */
export const COMPONENT_KEYWORD = 'x-component';

/** The named shared schemas met while bundling: each one is emitted once, as a component, and reached by `$ref`. */
export class ComponentRegistry {
  /** Component name → its bundled schema (refs to other components inside). */
  readonly schemas = new Map<string, JsonObject>();
  private readonly names = new Map<JsonObject, string>();

  /** The component name of a schema node, if it has one; claims the name for this node. */
  nameOf(node: JsonObject, where: string): string | undefined {
    const name = node[COMPONENT_KEYWORD];
    if (name === undefined) return undefined;
    if (typeof name !== 'string' || !/^[A-Z][A-Za-z0-9]*$/.test(name)) {
      throw new SpecError(`${where}: ${COMPONENT_KEYWORD} must be a PascalCase name, not ${JSON.stringify(name)}`);
    }
    const claimed = this.names.get(node);
    if (claimed) return claimed;
    if ([...this.names.values()].includes(name)) throw new SpecError(`${where}: ${COMPONENT_KEYWORD} "${name}" names two schemas`);
    this.names.set(node, name);
    return name;
  }
}

/** Keywords that say something about a value without constraining it: they may stand beside a `$ref`. */
const ANNOTATIONS = new Set(['description', 'title', 'examples', 'example', 'default', 'deprecated', 'readOnly', 'writeOnly', '$comment']);

/** A component's own schema: without the keywords that only say where it came from. */
function componentSchema(node: JsonObject): JsonObject {
  const { [COMPONENT_KEYWORD]: _name, 'x-validator': _validator, $defs: _defs, ...rest } = withoutResourceKeywords(node);
  return rest;
}

interface ResolveOptions {
  /** Refs inside the root document (`#/components/...`) stay as they are. */
  keepInternal: boolean;
  /** Refs to shared schemas named by `x-component` become `#/components/schemas/<name>`, collected here. */
  registry?: ComponentRegistry;
}

/**
 * Replaces `$ref`s with the schemas they point to (siblings of a `$ref` override its target's keywords). With a
 * `registry`, a ref to a shared schema named by `x-component` becomes `#/components/schemas/<name>` instead (the
 * schema is added to the registry once), unless its siblings change what it means (anything but annotations and
 * keywords equal to the target's): such a ref is inlined, so that every copy means what the inlined one does.
 */
function resolveRefs(node: Json, from: Origin, specs: Specs, options: ResolveOptions, stack: string[] = []): Json {
  if (Array.isArray(node)) return node.map((item) => resolveRefs(item, from, specs, options, stack));
  if (!isObject(node)) return node;
  const ref = node.$ref;
  if (typeof ref !== 'string' || (options.keepInternal && ref.startsWith('#') && stack.length === 0)) {
    return resolveObject(node, from, specs, options, stack);
  }
  const { $ref: _ref, ...rest } = node;
  const target = ref.startsWith('#') ? { origin: from, fragment: ref.slice(1) } : loadTarget(ref, from, specs);
  const key = `${target.origin.file}#${target.fragment}`;
  if (stack.includes(key)) throw new SpecError(`${from.file}: recursive $ref "${ref}" is not supported`);
  const schema = pointer(target.origin.doc, target.fragment, from.file);
  const siblings = resolveObject(rest, from, specs, options, stack);
  const inner = { ...options, keepInternal: false };
  const name = isObject(schema) ? options.registry?.nameOf(schema, key) : undefined;
  if (name && isObject(schema) && options.registry) {
    const changes = Object.entries(siblings).some(([k, v]) => !ANNOTATIONS.has(k) && JSON.stringify(schema[k]) !== JSON.stringify(v));
    if (!changes) {
      if (!options.registry.schemas.has(name)) {
        const bundled = resolveRefs(schema, target.origin, specs, inner, [...stack, key]);
        if (isObject(bundled)) options.registry.schemas.set(name, componentSchema(bundled));
      }
      const annotations = Object.fromEntries(Object.entries(siblings).filter(([k]) => ANNOTATIONS.has(k)));
      return { $ref: `#/components/schemas/${name}`, ...annotations };
    }
  }
  const resolved = resolveRefs(schema, target.origin, specs, inner, [...stack, key]);
  if (!isObject(resolved)) return resolved;
  const { [COMPONENT_KEYWORD]: _name, ...inlined } = withoutResourceKeywords(resolved);
  return { ...inlined, ...siblings };
}

/** What tools/list serves instead of a schema node (codegen/served-schema.ts); not part of the published contract. */
const SERVED_KEYWORD = 'x-served';

function resolveObject(node: JsonObject, from: Origin, specs: Specs, options: ResolveOptions, stack: string[]): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (options.registry && key === SERVED_KEYWORD) continue;
    out[key] = resolveRefs(value, from, specs, options, stack);
  }
  return out;
}

/**
 * A schema as the published contract has it: refs to shared schemas named by `x-component` point into
 * `#/components/schemas/` (collected in `registry`), other refs to other files are inlined; with `keepInternal`,
 * the root document's own refs (`#/components/...`) stay as they are.
 */
export function bundleRefs(node: Json, from: Origin, specs: Specs, registry: ComponentRegistry, keepInternal: boolean): Json {
  return resolveRefs(node, from, specs, { keepInternal, registry });
}

/** A fully self-contained copy of a schema: no `$ref` left anywhere (what tools/list and ajv get). */
export function dereference(node: Json, file: string, doc: JsonObject, specs: Specs): Json {
  return resolveRefs(node, { file, doc }, specs, { keepInternal: false });
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
