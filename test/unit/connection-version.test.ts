import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkServerVersion } from '../../src/lakehouse/connections.js';

describe('external connections: the server version', () => {
  it('refuses a PostgreSQL older than 11, naming the version it runs', () => {
    assert.throws(() => checkServerVersion(100_023, '10.23'), /runs PostgreSQL 10\.23; connections need PostgreSQL 11 or later/);
    assert.throws(() => checkServerVersion(Number.NaN, ''), /unknown version/);
  });

  it('accepts 11 and later', () => {
    assert.doesNotThrow(() => checkServerVersion(110_000, '11.0'));
    assert.doesNotThrow(() => checkServerVersion(170_009, '17.9'));
  });
});
