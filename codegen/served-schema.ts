import { isObject, type Json, type JsonObject } from './specs.js';

/**
 * Keywords a model does not need to call a tool well: size limits, identifier patterns, examples,
 * conditional requirements, `additionalProperties: false`,
 * identifier formats and storage-sized bounds. The server still validates every call against the whole schema (and its error
 * names the broken rule); what `tools/list` serves goes into the model's context on every turn, so it carries
 * only names, types, enums, defaults, numeric bounds and descriptions.
 */
const VALIDATION_ONLY = new Set([
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minProperties',
  'maxProperties',
  'propertyNames',
  'examples',
  'allOf',
  'if',
  'then',
  'else',
  '$comment',
]);

/** Bounds that only guard storage (a 32-bit version counter): a model never comes near them. */
const STORAGE_BOUND = 2_147_483_647;

/** Identifier formats: a model passes on ids it was given, so `format: uuid` tells it nothing. */
const IDENTIFIER_FORMATS = new Set(['uuid']);

const servesKeyword = (key: string, value: Json) =>
  !VALIDATION_ONLY.has(key) &&
  !(key === 'additionalProperties' && value === false) &&
  !(key === 'format' && typeof value === 'string' && IDENTIFIER_FORMATS.has(value)) &&
  !(key === 'maximum' && typeof value === 'number' && value >= STORAGE_BOUND);

/**
 * A schema as `tools/list` serves it: `schema` without the keywords above, at every depth. Give it the schema
 * before vendor keywords are stripped: a node with `x-served` is served as that instead (e.g. an update tool's
 * `chart` as "as in create_insight", where the whole shape is already in the catalogue once).
 */
export function servedSchema(schema: JsonObject): JsonObject {
  return slim(schema) as JsonObject;
}

function slim(node: Json): Json {
  if (Array.isArray(node)) return node.map(slim);
  if (!isObject(node)) return node;
  const override = node['x-served'];
  if (override !== undefined) {
    if (!isObject(override)) throw new Error('x-served must be a schema object');
    return slim(override);
  }
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('x-') || key === 'example') continue;
    // `properties` maps names to schemas: a property named like a keyword (`pattern`) is kept.
    if (key === 'properties' && isObject(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([name, schema]) => [name, slim(schema)]));
    } else if (servesKeyword(key, value)) {
      out[key] = slim(value);
    }
  }
  return out;
}
