import openapiTS, { astToString } from 'openapi-typescript';
import { compile } from 'json-schema-to-typescript';
import type { JsonObject } from './specs.js';

/** TypeScript types of the bundled OpenAPI document (`paths`, `components`, `operations`). */
export async function openapiTypes(bundle: JsonObject): Promise<string> {
  const ast = await openapiTS(structuredClone(bundle) as unknown as Parameters<typeof openapiTS>[0], {
    exportType: true,
    alphabetize: true,
    // A default makes a field optional for the sender, not present: request types must not require it.
    defaultNonNullable: false,
  });
  return astToString(ast);
}

/** A named TypeScript declaration emitted from a JSON Schema (an interface, not a type-level schema parser). */
export async function schemaType(schema: JsonObject, name: string): Promise<string> {
  const { title: _title, ...rest } = schema;
  return compile(structuredClone(rest), name, {
    bannerComment: '',
    additionalProperties: false,
    strictIndexSignatures: true,
    declareExternallyReferenced: true,
    enableConstEnums: false,
    format: true,
    unknownAny: true,
    // maxItems bounds a list; it must not turn the type into a union of tuples of every length.
    maxItems: -1,
  });
}
