import type { ErrorObject } from 'ajv';
import type { Violation } from '../errors.js';

/** A property name as one JSON pointer token (RFC 6901), as ajv writes `instancePath`. */
const pointerToken = (name: string) => name.replace(/~/g, '~0').replace(/\//g, '~1');

function describe(error: ErrorObject): { pointer: string; message: string } {
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'required') {
    return { pointer: `${error.instancePath}/${pointerToken(String(params.missingProperty))}`, message: 'is required' };
  }
  if (error.keyword === 'additionalProperties') {
    return {
      pointer: `${error.instancePath}/${pointerToken(String(params.additionalProperty))}`,
      message: 'is not a known field',
    };
  }
  if (error.keyword === 'enum' && Array.isArray(params.allowedValues)) {
    return { pointer: error.instancePath, message: `must be one of ${params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}` };
  }
  return { pointer: error.instancePath, message: error.message ?? `fails ${error.keyword}` };
}

/**
 * Turns ajv errors into violations a person can act on: `where` prefixes the pointer
 * (`body`, `query`, `path`, `input`), or is chosen per top-level field by a function.
 */
export function toViolations(errors: ErrorObject[] | null | undefined, where: string | ((field: string) => string)): Violation[] {
  const seen = new Set<string>();
  const out: Violation[] = [];
  for (const error of errors ?? []) {
    const { pointer, message } = describe(error);
    const field = pointer.split('/')[1] ?? '';
    const prefix = typeof where === 'string' ? where : where(field);
    const violation = { location: `${prefix}${pointer}`, message };
    const key = `${violation.location} ${message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(violation);
    }
  }
  return out;
}
