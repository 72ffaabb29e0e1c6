import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashPassword, passwordWeakness, verifyPassword } from '../../../src/db/passwords.js';

describe('passwords', () => {
  it('are hashed with argon2id and verify only with the right password', async () => {
    const hash = await hashPassword('a long enough passphrase');
    assert.match(hash, /^\$argon2id\$/);
    assert.equal(await verifyPassword(hash, 'a long enough passphrase'), true);
    assert.equal(await verifyPassword(hash, 'a long enough passphrasE'), false);
    assert.equal(await verifyPassword('not a hash', 'whatever'), false);
  });

  it('must have 12+ characters, more than one distinct character, and not be a common password', () => {
    assert.match(passwordWeakness('short pass') ?? '', /at least 12 characters/);
    assert.match(passwordWeakness('aaaaaaaaaaaaaaaa') ?? '', /one character repeated/);
    assert.match(passwordWeakness('Password1234') ?? '', /too common/);
    assert.equal(passwordWeakness('correct horse battery'), undefined);
    assert.equal(passwordWeakness('ünïcødé-pässwörd'), undefined);
  });
});
