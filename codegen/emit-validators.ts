import { Ajv2020 } from 'ajv/dist/2020.js';
import standaloneCode from 'ajv/dist/standalone/index.js';
import addFormats from 'ajv-formats';
import type { JsonObject } from './specs.js';

/** A named schema to compile into one exported validator. */
export interface ValidatorSource {
  exportName: string;
  schema: JsonObject;
}

function newAjv(coerce: boolean): Ajv2020 {
  const ajv = new Ajv2020({
    allErrors: true,
    strict: true,
    // Tool inputs get their declared defaults filled in (e.g. `limit`), so handlers never see them missing.
    useDefaults: true,
    coerceTypes: coerce ? 'array' : false,
    // `lines`: a statement a line, so that the ~2 MB of generated code diffs and reviews line by line.
    code: { source: true, esm: false, lines: true, optimize: true },
  });
  addFormats.default(ajv);
  ajv.addVocabulary(['xml', 'externalDocs', 'discriminator']);
  return ajv;
}

/**
 * Precompiles validators into one CommonJS module (ajv's ESM standalone output does not load on Node 20).
 * `coerce` is for path and query parameters, which arrive as strings.
 */
export function compileValidators(sources: ValidatorSource[], coerce: boolean): string {
  const ajv = newAjv(coerce);
  const exports: Record<string, string> = {};
  for (const { exportName, schema } of sources) {
    ajv.addSchema(schema, exportName);
    exports[exportName] = exportName;
  }
  return standaloneCode.default(ajv, exports);
}

export function validatorDeclarations(sources: ValidatorSource[]): string {
  const lines = sources.map((s) => `  readonly ${s.exportName}: ValidateFunction;`);
  return [
    `import type { ValidateFunction } from 'ajv';`,
    '',
    'declare const validators: {',
    ...lines,
    '};',
    'export = validators;',
    '',
  ].join('\n');
}
