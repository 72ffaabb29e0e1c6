import ts from 'typescript';
import openapiTS, {
  astToString,
  resolveRef,
  scanDiscriminators,
  transformSchemaObject,
  type GlobalContext,
  type OpenAPI3,
  type OpenAPITSOptions,
  type SchemaObject,
} from 'openapi-typescript';
import { isObject, type Json, type JsonObject } from './specs.js';

/**
 * The one TypeScript generator of the project: openapi-typescript. It types the bundled contract (openapi.ts) and,
 * with the same options, the server-side types of tool-types.ts, whose `$ref`s name the components of openapi.ts.
 */
const OPTIONS = {
  exportType: true,
  alphabetize: true,
  // A default makes a field optional for the sender, not present: request types must not require it. Types of
  // validated input (where ajv has filled the defaults in) make those fields required themselves: `withDefaults`.
  defaultNonNullable: false,
  // `type: object` without properties allows any properties (JSON Schema): not `Record<string, never>`.
  emptyObjectsUnknown: true,
} satisfies OpenAPITSOptions;

/** TypeScript types of the bundled OpenAPI document (`paths`, `components`, `operations`). */
export async function openapiTypes(bundle: JsonObject): Promise<string> {
  const ast = await openapiTS(structuredClone(bundle) as unknown as OpenAPI3, OPTIONS);
  return astToString(ast);
}

/** Emits named types of schemas whose `$ref`s point into `bundle`, as `components["schemas"]["…"]` of openapi.ts. */
export class TypeEmitter {
  private readonly ctx: GlobalContext;

  constructor(bundle: JsonObject) {
    const doc = structuredClone(bundle) as unknown as OpenAPI3;
    this.ctx = {
      additionalProperties: false,
      alphabetize: OPTIONS.alphabetize,
      arrayLength: false,
      defaultNonNullable: OPTIONS.defaultNonNullable,
      discriminators: scanDiscriminators(doc, OPTIONS),
      emptyObjectsUnknown: OPTIONS.emptyObjectsUnknown,
      enum: false,
      enumValues: false,
      conditionalEnums: false,
      dedupeEnums: false,
      excludeDeprecated: false,
      exportType: OPTIONS.exportType,
      immutable: false,
      injectFooter: [],
      pathParamsAsTypes: false,
      postTransform: undefined,
      propertiesRequiredByDefault: false,
      rootTypes: false,
      rootTypesNoSchemaPrefix: false,
      rootTypesKeepCasing: false,
      // Only openapiTS's own bundling step reads the Redocly config; schema transforms never do.
      redoc: undefined as unknown as GlobalContext['redoc'],
      silent: false,
      transform: undefined,
      transformProperty: undefined,
      resolve: <T>($ref: string) => resolveRef<T>(doc, $ref, { silent: false }),
      makePathsEnum: false,
      generatePathParams: false,
      readWriteMarkers: false,
    };
  }

  /** `export type <name> = <the schema's type>;`, with its description as a comment. */
  declaration(name: string, schema: JsonObject, comment?: string): string {
    const type = transformSchemaObject(structuredClone(schema) as unknown as SchemaObject, {
      path: `#/x-server-types/${name}`,
      ctx: this.ctx,
      schema: schema as unknown as SchemaObject,
    });
    const alias = ts.factory.createTypeAliasDeclaration([ts.factory.createModifier(ts.SyntaxKind.ExportKeyword)], name, undefined, type);
    return (comment ? `/** ${comment} */\n` : '') + astToString(alias);
  }

  /** Helper declarations the emitted types need (openapi-typescript's `WithRequired`, …), once each. */
  footer(): string {
    return this.ctx.injectFooter.length ? astToString(this.ctx.injectFooter) : '';
  }
}

/**
 * Subschemas that ajv (`useDefaults`) fills defaults into: those of `properties`, `items`, `additionalProperties`
 * and the like, not those under `anyOf`, `oneOf`, `not` or `if` (where a default would depend on the branch).
 */
function* filledSubschemas(schema: JsonObject): Generator<[container: JsonObject | Json[], key: string | number]> {
  for (const key of ['items', 'additionalProperties', 'then', 'else', 'unevaluatedProperties', 'unevaluatedItems']) {
    if (isObject(schema[key])) yield [schema, key];
  }
  for (const key of ['properties', 'patternProperties', 'dependentSchemas']) {
    const map = schema[key];
    if (isObject(map)) for (const name of Object.keys(map)) yield [map, name];
  }
  for (const key of ['allOf', 'prefixItems']) {
    const list = schema[key];
    if (Array.isArray(list)) for (let i = 0; i < list.length; i++) yield [list, i];
  }
}

const get = (container: JsonObject | Json[], key: string | number): Json | undefined =>
  Array.isArray(container) ? container[key as number] : container[key as string];

/**
 * A schema as ajv with `useDefaults` leaves the data it accepts: every property with a `default` is present, so
 * it is listed in `required`. A `$ref` whose target has such a property is inlined (the component's own type
 * leaves it optional). `resolve` finds the target of a `$ref`.
 */
export function withDefaults(schema: JsonObject, resolve: (ref: string) => JsonObject): JsonObject {
  const deref = (node: JsonObject, depth = 0): JsonObject => {
    if (typeof node.$ref !== 'string' || depth > 32) return node;
    const { $ref, ...siblings } = node;
    return { ...deref(resolve($ref), depth + 1), ...siblings };
  };
  const hasDefault = (prop: Json) => isObject(prop) && deref(prop).default !== undefined;
  const fills = (node: JsonObject, seen: Set<string>): boolean => {
    if (typeof node.$ref === 'string') {
      if (seen.has(node.$ref)) return false;
      seen.add(node.$ref);
    }
    const full = deref(node);
    if (isObject(full.properties) && Object.values(full.properties).some(hasDefault)) return true;
    for (const [container, key] of filledSubschemas(full)) {
      const sub = get(container, key);
      if (isObject(sub) && fills(sub, seen)) return true;
    }
    return false;
  };
  const visit = (node: JsonObject): JsonObject => {
    if (typeof node.$ref === 'string' && !fills(node, new Set())) return node;
    const out = structuredClone(deref(node));
    for (const [container, key] of filledSubschemas(out)) {
      const sub = get(container, key);
      if (!isObject(sub)) continue;
      if (Array.isArray(container)) container[key as number] = visit(sub);
      else container[key as string] = visit(sub);
    }
    const properties = out.properties;
    if (isObject(properties)) {
      const required = Array.isArray(out.required) ? out.required.filter((r): r is string => typeof r === 'string') : [];
      const added = Object.keys(properties).filter((name) => !required.includes(name) && hasDefault(properties[name] ?? null));
      if (added.length > 0) out.required = [...required, ...added];
    }
    return out;
  };
  return visit(schema);
}

/** Whether ajv with `useDefaults` may add anything to data valid against `schema`. */
export function fillsDefaults(schema: JsonObject, resolve: (ref: string) => JsonObject): boolean {
  return JSON.stringify(withDefaults(schema, resolve)) !== JSON.stringify(schema);
}
