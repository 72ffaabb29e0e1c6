import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCliArgs } from '../../src/cli/args.js';

const options = { 'client-secret': { type: 'string' }, token: { type: 'string', short: 't' }, json: { type: 'boolean' } } as const;

describe('command-line options', () => {
  it('takes a value that starts with a dash as the value of a string option (generated secrets can)', () => {
    const { values, positionals } = parseCliArgs({
      args: ['http://x', '--client-secret', '-Ab_9', '-t', '-tok', '--json'],
      options,
      allowPositionals: true,
    });
    assert.equal(values['client-secret'], '-Ab_9');
    assert.equal(values.token, '-tok');
    assert.equal(values.json, true);
    assert.deepEqual(positionals, ['http://x']);
  });

  it('still refuses unknown options and a missing value', () => {
    assert.throws(() => parseCliArgs({ args: ['--nope'], options, allowPositionals: true }), { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' });
    assert.throws(() => parseCliArgs({ args: ['--client-secret'], options, allowPositionals: true }), {
      code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE',
    });
  });

  it('leaves everything after -- alone', () => {
    const { positionals } = parseCliArgs({ args: ['--', '--client-secret', '-x'], options, allowPositionals: true });
    assert.deepEqual(positionals, ['--client-secret', '-x']);
  });
});
