import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { staleBuild, writeBuildInfo } from '../../scripts/build-info.js';

// The guard that keeps `npm start`, `npm run admin` and the bin from running a dist/ older than src/: on a
// copy of the launcher in a temp tree whose "build" is a stub CLI, so that nothing here touches the real dist/.

const ROOT = path.resolve(import.meta.dirname, '..', '..');

describe('stale build guard', () => {
  const tree = fs.mkdtempSync(path.join(os.tmpdir(), 'build-info-'));
  const source = path.join(tree, 'src', 'cli', 'admin.ts');
  after(() => fs.rmSync(tree, { recursive: true, force: true }));
  beforeEach(async () => {
    fs.rmSync(tree, { recursive: true, force: true });
    for (const dir of ['bin', 'scripts', 'src/cli', 'dist/bundle']) fs.mkdirSync(path.join(tree, dir), { recursive: true });
    fs.copyFileSync(path.join(ROOT, 'bin', 'lakehouse-mcp.js'), path.join(tree, 'bin', 'lakehouse-mcp.js'));
    fs.copyFileSync(path.join(ROOT, 'scripts', 'build-info.js'), path.join(tree, 'scripts', 'build-info.js'));
    fs.writeFileSync(path.join(tree, 'tsconfig.json'), '{}\n');
    fs.writeFileSync(source, 'export const version = 1;\n');
    fs.writeFileSync(
      path.join(tree, 'dist', 'bundle', 'admin.js'),
      "export async function main(argv) { process.stdout.write(`stub admin ${argv.join(' ')}\\n`); return 0; }\n",
    );
    await writeBuildInfo(tree);
  });
  const runBin = (...args: string[]) =>
    spawnSync(process.execPath, [path.join(tree, 'bin', 'lakehouse-mcp.js'), ...args], { encoding: 'utf8' });

  it('runs the build it was made from', async () => {
    assert.equal(await staleBuild(tree), undefined);
    const result = runBin('admin', 'org', 'create', 'acme');
    assert.equal(result.stderr, '');
    assert.equal(result.stdout, 'stub admin org create acme\n');
    assert.equal(result.status, 0);
  });

  it('refuses, with one line naming the fix, once a source changed', async () => {
    fs.writeFileSync(source, 'export const version = 2;\n');
    assert.match((await staleBuild(tree)) ?? '', /^src\/ changed since dist\/ was built/);
    const result = runBin('admin', 'org', 'create', 'acme');
    assert.equal(result.status, 1);
    assert.equal(result.stdout, '', 'the stale CLI did not run');
    assert.match(result.stderr, /^cannot start: src\/ changed since dist\/ was built \(.+\); run `npm run build` .*\n$/);
  });

  it('refuses a source added, and a tsconfig changed', async () => {
    fs.writeFileSync(path.join(tree, 'src', 'new.ts'), 'export {};\n');
    assert.ok(await staleBuild(tree));
    fs.rmSync(path.join(tree, 'src', 'new.ts'));
    assert.equal(await staleBuild(tree), undefined);
    fs.writeFileSync(path.join(tree, 'tsconfig.json'), '{ "compilerOptions": {} }\n');
    assert.ok(await staleBuild(tree));
  });

  it('takes a source touched but unchanged (a checkout) as current', async () => {
    const later = new Date(Date.now() + 60_000);
    fs.utimesSync(source, later, later);
    assert.equal(await staleBuild(tree), undefined);
    assert.equal(runBin('admin').status, 0);
  });

  it('refuses a dist/ with no record of its build (never built, or a build that stopped half way)', async () => {
    fs.rmSync(path.join(tree, 'dist', 'build-info.json'));
    const result = runBin('start');
    assert.equal(result.status, 1);
    assert.match(result.stderr, /^cannot start: there is no complete build in dist\/; run `npm run build`/);
  });

  it('the real dist/ is current (test/run.ts builds it before the tests)', async () => {
    assert.equal(await staleBuild(ROOT), undefined);
    assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'lakehouse', 'sample-semantic-models.yaml')), 'assets are copied');
    assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'generated', 'validators.cjs')), 'assets are copied');
    assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'bundle', 'main.js')), 'the server is bundled');
    assert.match(
      execFileSync(process.execPath, [path.join(ROOT, 'bin', 'lakehouse-mcp.js'), '--help'], { encoding: 'utf8' }),
      /^usage: lakehouse-mcp start /,
    );
  });
});
