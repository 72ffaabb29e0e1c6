import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { AppError, ERROR_CODES, isErrorCode, type ErrorCode } from '../../src/errors.js';
import openapi from '../../src/generated/openapi.json' with { type: 'json' };

const ROOT = path.resolve(import.meta.dirname, '../..');
const codes = Object.keys(ERROR_CODES) as ErrorCode[];

describe('the error vocabulary (src/errors.ts)', () => {
  it('gives every code an HTTP error status and a meaning that ends a sentence', () => {
    for (const code of codes) {
      const { status, meaning } = ERROR_CODES[code];
      assert.match(code, /^[a-z][a-z0-9_]*$/);
      assert.ok(status >= 400 && status <= 599, `${code}: ${status}`);
      assert.match(meaning, /\.$/, code);
    }
  });

  it('takes the status of an error from the table and hides the message of a 5xx', () => {
    for (const code of codes) {
      const error = new AppError(code, 'what happened');
      assert.equal(error.status, ERROR_CODES[code].status);
      assert.equal(error.expose, error.status < 500);
    }
  });

  it('knows its codes and nothing else', () => {
    assert.ok(isErrorCode('not_found'));
    assert.ok(!isErrorCode('too_large'));
    assert.ok(!isErrorCode('toString'));
  });

  it('is the enum of the published contract and the table of docs/reference/errors.md', () => {
    const schemas = openapi.components.schemas as Record<string, { enum?: string[]; properties?: Record<string, unknown> }>;
    assert.deepEqual(schemas.ErrorCode?.enum, codes);
    assert.deepEqual(schemas.Problem?.properties?.code, { $ref: '#/components/schemas/ErrorCode' });
    const page = fs.readFileSync(path.join(ROOT, 'docs/reference/errors.md'), 'utf8');
    const documented = [...page.matchAll(/^\| `([a-z_0-9]+)` \| (\d{3})/gm)].map((m) => [m[1], Number(m[2])]);
    assert.deepEqual(
      documented,
      codes.map((code) => [code, ERROR_CODES[code].status]),
    );
  });
});
