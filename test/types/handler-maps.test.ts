import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';

const ROOT = path.resolve(import.meta.dirname, '../..');

function compile(file: string): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(
    path.join(ROOT, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => assert.fail(ts.flattenDiagnosticMessageText(d.messageText, '\n')),
    },
  );
  assert.ok(config);
  const program = ts.createProgram([file], config.options);
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('generated handler maps', () => {
  it('make tsc refuse a handler map that lacks a tool, naming the tool', () => {
    const errors = compile(path.join(ROOT, 'test/types/fixtures/missing-handler.ts'));
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0] ?? '', /missing/);
    assert.match(errors[0] ?? '', /get_doc/);
  });

  it('accept the real handler maps and fail every deliberate mistake in handler-maps.types.ts', () => {
    const errors = compile(path.join(ROOT, 'test/types/handler-maps.types.ts'));
    assert.deepEqual(errors, [], 'each @ts-expect-error there must be used, and nothing else may fail');
  });
});
