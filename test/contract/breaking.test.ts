import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { bundleOpenApi } from '../../codegen/bundle.js';
import { compileContract, diffContracts, formatBreaking, type ContractDiff } from '../../codegen/breaking/compare.js';
import { RULES } from '../../codegen/breaking/rules.js';
import { release, ReleaseError, releasedVersion } from '../../codegen/release.js';
import { loadSpecs } from '../../codegen/specs.js';
import YAML from 'yaml';

const ROOT = path.resolve(import.meta.dirname, '../..');
const FIXTURES = path.join(import.meta.dirname, 'fixtures');
const fixtures = (kind: string) => fs.readdirSync(path.join(FIXTURES, kind)).sort();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lakehouse-breaking-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function diffFixture(kind: string, name: string): ContractDiff {
  const dir = path.join(FIXTURES, kind, name);
  const before = compileContract(path.join(dir, 'before'));
  const after = compileContract(path.join(dir, 'after'));
  assert.ok(before && after, `${kind}/${name} needs before/ and after/ contracts`);
  return diffContracts(before, after);
}

function contractCheck(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'codegen/contract-check.ts', ...args], { cwd: ROOT, encoding: 'utf8' });
}

describe('breaking-change rules', () => {
  it('has a before/after fixture pair for every rule, and a rule for every fixture', () => {
    const covered = new Set(fixtures('breaking').map((name) => name.split('.')[0]));
    assert.deepEqual([...covered].sort(), RULES.map((r) => r.id).sort());
  });

  for (const name of fixtures('breaking')) {
    const rule = name.split('.')[0];
    it(`reports ${name} as exactly one "${rule}" line with its pointer and why it breaks clients`, () => {
      const { breaking } = diffFixture('breaking', name);
      assert.deepEqual(
        breaking.map((b) => b.rule),
        [rule],
        formatBreaking(breaking).join('\n'),
      );
      const [line = ''] = formatBreaking(breaking);
      const why = RULES.find((r) => r.id === rule)?.why ?? '';
      assert.match(line, /^(openapi\.json|tools\/[a-z_]+)#(\/[^/:\s]*)*: [a-z-]+: /);
      assert.ok(line.endsWith(`: ${rule}: ${why}`), line);
    });
  }

  it('points into the compiled contract: the operation, the tool field or the keyword that changed', () => {
    const pointer = (name: string) => diffFixture('breaking', name).breaking[0]?.pointer;
    assert.equal(pointer('removed-operation'), 'openapi.json#/paths/~1ping/get');
    assert.equal(pointer('removed-tool'), 'tools/get_thing#');
    assert.equal(pointer('tightened-bound.maxLength'), 'tools/get_thing#/input/properties/id/maxLength');
    assert.equal(pointer('tightened-bound.maximum'), 'tools/get_thing#/input/properties/limit/maximum');
    assert.equal(pointer('removed-enum-value'), 'tools/get_thing#/output/properties/kind/enum');
    assert.equal(pointer('changed-security'), 'openapi.json#/paths/~1ping/get/security');
  });

  for (const name of fixtures('compatible')) {
    it(`accepts a non-breaking change: ${name}`, () => {
      const diff = diffFixture('compatible', name);
      assert.deepEqual(formatBreaking(diff.breaking), []);
      assert.ok(diff.added.length + diff.deprecated.length > 0, 'the change shows up as an addition or a deprecation');
    });
  }

  it('lists additions and deprecations for the changelog', () => {
    const diff = diffFixture('compatible', 'added-operation-and-deprecation');
    assert.deepEqual(
      diff.added.map((n) => n.text),
      ['operation `GET /pong` (pong)'],
    );
    assert.deepEqual(diff.deprecated, [{ pointer: 'openapi.json#/paths/~1ping/get', text: 'operation' }]);
    const tool = diffFixture('compatible', 'added-tool');
    assert.deepEqual(
      tool.added.map((n) => n.pointer),
      ['openapi.json#/paths/~1api~1v1~1list_things/post', 'tools/list_things#'],
    );
  });

  it('finds nothing between specs/ and itself (tools included)', () => {
    const specs = compileContract(path.join(ROOT, 'specs'));
    assert.ok(specs && specs.tools.size > 0);
    assert.deepEqual(diffContracts(specs, specs), { breaking: [], added: [], deprecated: [] });
  });

  it('sees no change when shared schemas move between inlined copies and named components ($refs are followed)', () => {
    // specs/ without `x-component`: every shared schema inlined where used, as released contracts had them.
    const inlined = path.join(tmp, 'inlined');
    fs.cpSync(path.join(ROOT, 'specs'), inlined, { recursive: true, filter: (from) => !from.includes(`${path.sep}released`) });
    for (const name of fs.readdirSync(path.join(inlined, 'schemas'))) {
      const file = path.join(inlined, 'schemas', name);
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^[ \t]*x-component: \w+\n/gm, ''));
    }
    const schemas = (dir: string) =>
      Object.keys((bundleOpenApi(loadSpecs(dir)).components as { schemas: Record<string, unknown> }).schemas);
    assert.ok(!schemas(inlined).includes('Insight'));
    assert.ok(schemas(path.join(ROOT, 'specs')).includes('Insight'));
    const before = compileContract(inlined);
    const after = compileContract(path.join(ROOT, 'specs'));
    assert.ok(before && after);
    assert.deepEqual(diffContracts(before, after), { breaking: [], added: [], deprecated: [] });
    assert.deepEqual(diffContracts(after, before), { breaking: [], added: [], deprecated: [] });
  });

  it('treats a new error code as an addition and a removed one as breaking (the ErrorCode enum of src/errors.ts)', () => {
    const withCodes = (name: string, edit: (codes: string[]) => string[]) => {
      const dir = path.join(tmp, name);
      fs.cpSync(path.join(ROOT, 'specs'), dir, { recursive: true, filter: (from) => !from.includes(`${path.sep}released`) });
      const file = path.join(dir, 'schemas', 'error-code.yaml');
      const schema = YAML.parse(fs.readFileSync(file, 'utf8')) as { enum: string[] };
      fs.writeFileSync(file, YAML.stringify({ ...schema, enum: edit(schema.enum) }));
      return compileContract(dir);
    };
    const current = compileContract(path.join(ROOT, 'specs'));
    const fewer = withCodes('fewer-codes', (codes) => codes.filter((c) => c !== 'busy'));
    const more = withCodes('more-codes', (codes) => [...codes, 'brand_new']);
    assert.ok(current && fewer && more);

    const added = diffContracts(fewer, current);
    assert.deepEqual(added.breaking, []);
    assert.ok(added.added.some((note) => note.text === 'enum value "busy"' && note.pointer.includes('/code/enum')));

    const removed = diffContracts(more, current);
    assert.ok(removed.breaking.length > 0);
    assert.ok(removed.breaking.every((b) => b.rule === 'removed-enum-value' && b.pointer.endsWith('/code/enum')));
  });
});

describe('npm run contract:check: the breaking-change step', () => {
  it('fails on a breaking fixture with one line per change', () => {
    const dir = path.join(FIXTURES, 'breaking/new-required-parameter');
    const result = contractCheck('--base', path.join(dir, 'before'), '--specs', path.join(dir, 'after'));
    assert.equal(result.status, 1, result.stdout + result.stderr);
    assert.match(result.stderr, /1 breaking change against/);
    assert.match(
      result.stderr,
      /openapi\.json#\/paths\/~1ping\/get\/parameters\/0: new-required-parameter: requests written without it are refused/,
    );
  });

  it('passes on a compatible fixture', () => {
    const dir = path.join(FIXTURES, 'compatible/added-optional-field');
    const result = contractCheck('--base', path.join(dir, 'before'), '--specs', path.join(dir, 'after'));
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /no breaking changes against/);
  });

  it('passes, and says so, when the base holds no released contract yet', () => {
    const empty = fs.mkdtempSync(path.join(tmp, 'empty-'));
    const result = contractCheck('--base', empty, '--specs', path.join(FIXTURES, 'compatible/added-tool/after'));
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /holds no released contract yet/);
  });
});

describe('npm run contract:release', () => {
  const copy = (name: string) => {
    const dir = path.join(tmp, name);
    fs.cpSync(path.join(FIXTURES, 'compatible/added-tool/before'), path.join(dir, 'specs'), { recursive: true });
    return { specsDir: path.join(dir, 'specs'), releasedDir: path.join(dir, 'specs/released') };
  };

  it('snapshots the contract with its version and a changelog entry of the additions', () => {
    const dirs = copy('release');
    const first = release({ ...dirs, version: '0.1.0', date: '2026-01-02' });
    assert.match(first, /^## 0\.1\.0 \(2026-01-02\)\n\nFirst release/);
    assert.match(first, /- tool `get_thing` \(read\): Get a thing — `tools\/get_thing#`/);
    assert.equal(releasedVersion(dirs.releasedDir), '0.1.0');
    assert.ok(fs.existsSync(path.join(dirs.releasedDir, 'tools/get_thing.yaml')));
    assert.ok(!fs.existsSync(path.join(dirs.releasedDir, 'released')), 'the snapshot does not nest itself');

    fs.cpSync(path.join(FIXTURES, 'compatible/added-tool/after/tools'), path.join(dirs.specsDir, 'tools'), { recursive: true });
    const second = release({ ...dirs, version: '0.2.0', date: '2026-02-03' });
    assert.match(second, /### Added\n\n- operation `POST \/api\/v1\/list_things`.*\n- tool `list_things`/);
    const changelog = fs.readFileSync(path.join(dirs.releasedDir, 'CHANGELOG.md'), 'utf8');
    assert.ok(changelog.indexOf('## 0.2.0') < changelog.indexOf('## 0.1.0'), 'newest first');
    assert.equal(compileContract(dirs.releasedDir)?.tools.size, 2);
  });

  it('refuses a version that is not greater, and a breaking change unless allowed', () => {
    const dirs = copy('refuse');
    release({ ...dirs, version: '1.0.0', date: '2026-01-02' });
    assert.throws(() => release({ ...dirs, version: '1.0.0', date: '2026-01-02' }), /must be greater/);
    assert.throws(() => release({ ...dirs, version: 'v2', date: '2026-01-02' }), ReleaseError);
    fs.rmSync(path.join(dirs.specsDir, 'tools/get_thing.yaml'));
    assert.throws(() => release({ ...dirs, version: '2.0.0', date: '2026-01-02' }), /tools\/get_thing#: removed-tool/);
    const entry = release({ ...dirs, version: '2.0.0', date: '2026-01-02', allowBreaking: true });
    assert.match(entry, /### Breaking\n\n- removed-tool: /);
  });
});
