import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ajv, type ErrorObject } from 'ajv';
import type { Violation } from '../../src/errors.js';
import { toViolations } from '../../src/operations/validation.js';

// toViolations: ajv's errors as violations a person can act on (`location` a prefix and a JSON pointer).

const ajv = new Ajv({ allErrors: true });
const validate = ajv.compile({
  type: 'object',
  required: ['name', 'limit'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1 },
    limit: { type: 'integer', minimum: 1, maximum: 100 },
    kind: { enum: ['a', 'b', 1] },
    tags: { type: 'array', items: { type: 'string' } },
    nested: { type: 'object', required: ['x'], properties: { x: { type: 'number' } } },
  },
});

/** ajv's errors for `data` (none when it is valid). */
function errorsOf(data: unknown): ErrorObject[] | null | undefined {
  validate(data);
  return validate.errors;
}

describe('toViolations of ajv errors', () => {
  const cases: { name: string; input: unknown; expected: Violation[] }[] = [
    { name: 'valid data: none', input: { name: 'x', limit: 1 }, expected: [] },
    {
      name: 'required: the pointer names the missing field',
      input: {},
      expected: [
        { location: 'body/name', message: 'is required' },
        { location: 'body/limit', message: 'is required' },
      ],
    },
    {
      name: 'required inside an object',
      input: { name: 'x', limit: 1, nested: {} },
      expected: [{ location: 'body/nested/x', message: 'is required' }],
    },
    {
      name: 'additionalProperties: each unknown field',
      input: { name: 'x', limit: 1, extra: 1, other: 2 },
      expected: [
        { location: 'body/extra', message: 'is not a known field' },
        { location: 'body/other', message: 'is not a known field' },
      ],
    },
    {
      name: 'enum: the allowed values as JSON',
      input: { name: 'x', limit: 1, kind: 'c' },
      expected: [{ location: 'body/kind', message: 'must be one of "a", "b", 1' }],
    },
    {
      name: "other keywords keep ajv's message",
      input: { name: '', limit: 0 },
      expected: [
        { location: 'body/name', message: 'must NOT have fewer than 1 characters' },
        { location: 'body/limit', message: 'must be >= 1' },
      ],
    },
    { name: 'type', input: { name: 'x', limit: 1.5 }, expected: [{ location: 'body/limit', message: 'must be integer' }] },
    {
      name: 'an array item',
      input: { name: 'x', limit: 1, tags: ['a', 2] },
      expected: [{ location: 'body/tags/1', message: 'must be string' }],
    },
    { name: 'the document itself: the prefix alone', input: 5, expected: [{ location: 'body', message: 'must be object' }] },
  ];
  for (const { name, input, expected } of cases) {
    it(name, () => assert.deepEqual(toViolations(errorsOf(input), 'body'), expected));
  }
});

describe('toViolations: prefixes, duplicates, odd input', () => {
  const error = (fields: Partial<ErrorObject> & Pick<ErrorObject, 'keyword' | 'instancePath'>): ErrorObject => ({
    schemaPath: '#',
    params: {},
    ...fields,
  });
  const locate = (field: string) => (field === 'id' ? 'path' : field === 'limit' ? 'query' : 'body');
  const cases: {
    name: string;
    input: ErrorObject[] | null | undefined;
    where: string | ((field: string) => string);
    expected: Violation[];
  }[] = [
    { name: 'null: none', input: null, where: 'body', expected: [] },
    { name: 'undefined: none', input: undefined, where: 'body', expected: [] },
    {
      name: 'the prefix is chosen per top-level field',
      input: [
        error({ keyword: 'type', instancePath: '/id', message: 'must be string' }),
        error({ keyword: 'maximum', instancePath: '/limit', message: 'must be <= 100' }),
        error({ keyword: 'required', instancePath: '', params: { missingProperty: 'sql' } }),
        error({ keyword: 'type', instancePath: '/options/timeout', message: 'must be integer' }),
      ],
      where: locate,
      expected: [
        { location: 'path/id', message: 'must be string' },
        { location: 'query/limit', message: 'must be <= 100' },
        { location: 'body/sql', message: 'is required' },
        { location: 'body/options/timeout', message: 'must be integer' },
      ],
    },
    {
      name: 'the same violation twice is reported once',
      input: [
        error({ keyword: 'required', instancePath: '', params: { missingProperty: 'x' } }),
        error({ keyword: 'required', instancePath: '', params: { missingProperty: 'x' } }),
        error({ keyword: 'anyOf', instancePath: '', message: 'must match a schema in anyOf' }),
      ],
      where: 'input',
      expected: [
        { location: 'input/x', message: 'is required' },
        { location: 'input', message: 'must match a schema in anyOf' },
      ],
    },
    {
      name: 'the same message at two places is kept twice',
      input: [
        error({ keyword: 'type', instancePath: '/a', message: 'must be string' }),
        error({ keyword: 'type', instancePath: '/b', message: 'must be string' }),
      ],
      where: 'input',
      expected: [
        { location: 'input/a', message: 'must be string' },
        { location: 'input/b', message: 'must be string' },
      ],
    },
    {
      name: 'an error without a message names its keyword',
      input: [error({ keyword: 'format', instancePath: '/when' })],
      where: 'query',
      expected: [{ location: 'query/when', message: 'fails format' }],
    },
    {
      name: 'enum without allowedValues keeps the message',
      input: [error({ keyword: 'enum', instancePath: '/kind', message: 'must be equal to one of the allowed values' })],
      where: 'body',
      expected: [{ location: 'body/kind', message: 'must be equal to one of the allowed values' }],
    },
  ];
  for (const { name, input, where, expected } of cases) {
    it(name, () => assert.deepEqual(toViolations(input, where), expected));
  }

  it('a field name with "/" is one JSON pointer token (~1) for required as for the other keywords', {}, () => {
    // ajv escapes instancePath (/a~1b) but not params.missingProperty, so a missing "a/b" is reported at
    // body/a/b (two tokens) and locate() gets "a". No field of the contract has a "/" or "~" in its name today.
    const slashed = new Ajv({ allErrors: true }).compile({
      type: 'object',
      required: ['a/b'],
      properties: { 'a/b': { type: 'string' } },
    });
    slashed({});
    const missing = toViolations(slashed.errors, 'body');
    slashed({ 'a/b': 1 });
    const mistyped = toViolations(slashed.errors, 'body');
    assert.deepEqual(missing, [{ location: 'body/a~1b', message: 'is required' }]);
    assert.deepEqual(mistyped, [{ location: 'body/a~1b', message: 'must be string' }]);
  });
});
