import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Role } from '../../src/db/schema.js';
import { OAuthError } from '../../src/oauth/errors.js';
import { formatScope, intersect, isScope, parseScope, roleScopes, sortScopes } from '../../src/oauth/scopes.js';
import type { Scope } from '../../src/oauth/principal.js';

// Scope arithmetic of the OAuth server: parsing the `scope` parameter (RFC 6749 §3.3), its canonical form,
// what a role allows and what several grants have in common.

describe('parseScope: accepted', () => {
  const cases: { name: string; input: string | undefined; expected: Scope[] | undefined }[] = [
    { name: 'absent stays absent (the default applies elsewhere)', input: undefined, expected: undefined },
    { name: 'empty is no scope', input: '', expected: [] },
    { name: 'spaces only are no scope', input: '   ', expected: [] },
    { name: 'read', input: 'read', expected: ['read'] },
    { name: 'write', input: 'write', expected: ['write'] },
    { name: 'canonical order, read first', input: 'write read', expected: ['read', 'write'] },
    { name: 'duplicates collapse', input: 'read read write read', expected: ['read', 'write'] },
    { name: 'extra spaces between and around', input: '  read   write ', expected: ['read', 'write'] },
  ];
  for (const { name, input, expected } of cases) {
    it(name, () => assert.deepEqual(parseScope(input), expected));
  }
});

describe('parseScope: refused with invalid_scope', () => {
  const cases: { name: string; input: string; expected: string }[] = [
    { name: 'an unknown scope', input: 'admin', expected: 'Unknown scope "admin"; this server has "read" and "write".' },
    {
      name: 'the first unknown of several',
      input: 'read openid profile',
      expected: 'Unknown scope "openid"; this server has "read" and "write".',
    },
    { name: 'scopes are case-sensitive', input: 'read Write', expected: 'Unknown scope "Write"; this server has "read" and "write".' },
    {
      name: 'a tab is not a separator (RFC 6749 §3.3: %x20 only)',
      input: 'read\twrite',
      expected: 'Unknown scope "read\\twrite"; this server has "read" and "write".',
    },
    {
      name: 'a long unknown scope is cut to 40 characters in the message',
      input: 'x'.repeat(100),
      expected: `Unknown scope "${'x'.repeat(40)}"; this server has "read" and "write".`,
    },
  ];
  for (const { name, input, expected } of cases) {
    it(name, () => {
      assert.throws(
        () => parseScope(input),
        (error: unknown) =>
          error instanceof OAuthError && error.error === 'invalid_scope' && error.status === 400 && error.description === expected,
      );
    });
  }
});

describe('isScope', () => {
  const cases: { input: string; expected: boolean }[] = [
    { input: 'read', expected: true },
    { input: 'write', expected: true },
    { input: 'READ', expected: false },
    { input: 'admin', expected: false },
    { input: '', expected: false },
    { input: 'read write', expected: false },
  ];
  for (const { input, expected } of cases) {
    it(`${JSON.stringify(input)} → ${expected}`, () => assert.equal(isScope(input), expected));
  }
});

describe('sortScopes and formatScope', () => {
  const cases: { name: string; input: string[]; expected: Scope[]; formatted: string }[] = [
    { name: 'nothing', input: [], expected: [], formatted: '' },
    { name: 'already canonical', input: ['read', 'write'], expected: ['read', 'write'], formatted: 'read write' },
    { name: 'reversed', input: ['write', 'read'], expected: ['read', 'write'], formatted: 'read write' },
    { name: 'duplicates', input: ['write', 'write'], expected: ['write'], formatted: 'write' },
    { name: 'unknown names dropped', input: ['admin', 'read', 'openid'], expected: ['read'], formatted: 'read' },
  ];
  for (const { name, input, expected, formatted } of cases) {
    it(name, () => {
      assert.deepEqual(sortScopes(input), expected);
      assert.equal(formatScope(input), formatted);
    });
  }
  it('takes any iterable (a Set)', () => assert.equal(formatScope(new Set(['write', 'read'])), 'read write'));
});

describe('roleScopes', () => {
  const cases: { input: Role; expected: Scope[] }[] = [
    { input: 'reader', expected: ['read'] },
    { input: 'writer', expected: ['read', 'write'] },
    { input: 'admin', expected: ['read', 'write'] },
  ];
  for (const { input, expected } of cases) {
    it(`${input} → ${expected.join(' ')}`, () => assert.deepEqual(roleScopes(input), expected));
  }
});

describe('intersect', () => {
  const cases: { name: string; input: string[][]; expected: Scope[] }[] = [
    { name: 'no sets: nothing', input: [], expected: [] },
    { name: 'one set: itself, canonical', input: [['write', 'read']], expected: ['read', 'write'] },
    { name: 'two sets in common', input: [['read', 'write'], ['write']], expected: ['write'] },
    { name: 'disjoint', input: [['read'], ['write']], expected: [] },
    { name: 'one empty set empties it', input: [['read', 'write'], [], ['read']], expected: [] },
    { name: 'three sets', input: [['read', 'write'], ['write', 'read'], ['read']], expected: ['read'] },
    {
      name: 'unknown names never survive',
      input: [
        ['admin', 'read'],
        ['admin', 'read'],
      ],
      expected: ['read'],
    },
  ];
  for (const { name, input, expected } of cases) {
    it(name, () => assert.deepEqual(intersect(...input), expected));
  }
});
