import fc from 'fast-check';

// Arbitraries for the fuzz tests: values that follow a JSON Schema (the tools' input schemas from
// src/generated/tools.ts), mutations of them, and hostile strings. Not a test file.

/** The seed of every property: fixed so that a failure reproduces; FUZZ_SEED=<n> to explore others. */
export const SEED = Number(process.env.FUZZ_SEED ?? 20_260_709);

/** fast-check parameters: a fixed seed, many runs, but never more than `ms` of run time per property. */
export function bounded(ms = 4_000, numRuns = 400): fc.Parameters<unknown> {
  return { seed: SEED, numRuns, interruptAfterTimeLimit: ms, markInterruptAsFailure: false, endOnFailure: true };
}

type Schema = Record<string, unknown>;

/** Strings an attacker would try: injections, traversal, control characters, long and odd unicode. */
export const hostileString = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    "'; DROP TABLE users; --",
    'SELECT pg_sleep(10)',
    'select * from pg_shadow',
    '../../etc/passwd',
    '%00',
    '\u0000',
    '\ud800',
    '<script>alert(1)</script>',
    '{{7*7}}',
    '${jndi:ldap://x}',
    'https://169.254.169.254/latest/meta-data/',
    'http://127.0.0.1:1/',
    'file:///etc/passwd',
    'null',
    'true',
    '-1',
    '1e309',
    '00000000-0000-0000-0000-000000000000',
    'ä'.repeat(3000),
  ),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.integer({ min: 1, max: 70_000 }).map((n) => 'x'.repeat(n)),
);

/** Any JSON value, hostile strings included. */
export const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  { depthSize: 'small' },
  fc.jsonValue({ maxDepth: 3 }),
  hostileString,
  fc.constantFrom(null, true, false, 0, -1, 2 ** 53, -(2 ** 63), 1.5, Number.MAX_SAFE_INTEGER),
  fc.constant([]),
  fc.constant({}),
);

function typesOf(schema: Schema): string[] {
  const type = schema.type;
  if (typeof type === 'string') return [type];
  if (Array.isArray(type)) return type.filter((t): t is string => typeof t === 'string');
  if (schema.properties) return ['object'];
  return [];
}

function stringFor(schema: Schema): fc.Arbitrary<string> {
  const minLength = typeof schema.minLength === 'number' ? schema.minLength : 0;
  const maxLength = Math.min(typeof schema.maxLength === 'number' ? schema.maxLength : 60, minLength + 60);
  const format = schema.format;
  if (format === 'uuid') return fc.uuid();
  if (format === 'date-time')
    return fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString());
  if (format === 'date')
    return fc
      .date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
      .map((d) => d.toISOString().slice(0, 10));
  if (format === 'uri' || format === 'url') return fc.webUrl();
  if (format === 'email') return fc.emailAddress();
  if (typeof schema.pattern === 'string') {
    try {
      return fc
        .stringMatching(new RegExp(schema.pattern))
        .filter((s) => s.length >= minLength && s.length <= Math.max(maxLength, minLength));
    } catch {
      // a pattern JavaScript cannot compile: fall through to plain strings
    }
  }
  return fc.string({ minLength, maxLength });
}

function numberFor(schema: Schema, integer: boolean): fc.Arbitrary<number> {
  const min =
    typeof schema.minimum === 'number' ? schema.minimum : typeof schema.exclusiveMinimum === 'number' ? schema.exclusiveMinimum + 1 : -1000;
  const max =
    typeof schema.maximum === 'number'
      ? schema.maximum
      : typeof schema.exclusiveMaximum === 'number'
        ? schema.exclusiveMaximum - 1
        : 100_000;
  return integer
    ? fc.integer({ min: Math.ceil(min), max: Math.floor(max) })
    : fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
}

/**
 * Values that follow `schema` as far as a generator reasonably can: types, enum, const, required and
 * optional properties, array bounds, string formats and patterns, number ranges; anyOf/oneOf pick a branch;
 * allOf, if/then and cross-field rules are left to the server (their violations are refusals too).
 */
export function fromSchema(schema: unknown, root: Schema = schema as Schema, depth = 0): fc.Arbitrary<unknown> {
  if (typeof schema !== 'object' || schema === null || depth > 6) return anyJson;
  const s = schema as Schema;
  if (typeof s.$ref === 'string' && s.$ref.startsWith('#/')) {
    const target = s.$ref
      .slice(2)
      .split('/')
      .reduce<unknown>((node, key) => (node as Schema | undefined)?.[key], root);
    return fromSchema(target, root, depth + 1);
  }
  if ('const' in s) return fc.constant(s.const);
  if (Array.isArray(s.enum) && s.enum.length > 0) return fc.constantFrom(...(s.enum as unknown[]));
  const branches = (s.anyOf ?? s.oneOf) as unknown[] | undefined;
  if (Array.isArray(branches) && branches.length > 0)
    return fc.oneof(...branches.map((b) => fromSchema({ ...s, anyOf: undefined, oneOf: undefined, ...(b as Schema) }, root, depth + 1)));
  const types = typesOf(s);
  if (types.length === 0) return anyJson;
  return fc.oneof(
    ...types.map((type): fc.Arbitrary<unknown> => {
      switch (type) {
        case 'string':
          return stringFor(s);
        case 'integer':
          return numberFor(s, true);
        case 'number':
          return numberFor(s, false);
        case 'boolean':
          return fc.boolean();
        case 'null':
          return fc.constant(null);
        case 'array': {
          const minLength = typeof s.minItems === 'number' ? s.minItems : 0;
          const maxLength = Math.min(typeof s.maxItems === 'number' ? s.maxItems : 4, minLength + 4);
          return fc.array(fromSchema(s.items ?? {}, root, depth + 1), { minLength, maxLength });
        }
        case 'object': {
          const properties = (s.properties ?? {}) as Record<string, unknown>;
          const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
          const record: Record<string, fc.Arbitrary<unknown>> = {};
          for (const [name, sub] of Object.entries(properties)) record[name] = fromSchema(sub, root, depth + 1);
          return fc.record(record, { requiredKeys: [...required].filter((k) => k in properties) });
        }
        default:
          return anyJson;
      }
    }),
  );
}

/** One mutation of a valid-looking object: a field dropped, replaced, retyped or added, or the whole thing swapped. */
export function mutated(valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { arbitrary: valid, weight: 3 },
    {
      weight: 2,
      arbitrary: fc.tuple(valid, fc.nat(), anyJson).map(([value, pick, replacement]) => {
        if (typeof value !== 'object' || value === null || Array.isArray(value)) return replacement;
        const keys = Object.keys(value);
        if (keys.length === 0) return { [`x${pick}`]: replacement };
        const key = keys[pick % keys.length] as string;
        return { ...value, [key]: replacement };
      }),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(valid, fc.nat()).map(([value, pick]) => {
        if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
        const keys = Object.keys(value);
        const drop = keys[pick % Math.max(1, keys.length)];
        return Object.fromEntries(Object.entries(value).filter(([k]) => k !== drop));
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(valid, fc.string({ minLength: 1, maxLength: 12 }), anyJson)
        .map(([value, key, extra]) =>
          typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...value, [key]: extra } : value,
        ),
    },
    { weight: 1, arbitrary: anyJson },
  );
}
