import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

// `npm run bench -- --scenario startup --smoke` end to end (one run of each side), so that the scenario cannot
// rot: both ratios are measured against their baselines, the tsx figures beside them, and pass/fail is printed.
// The figures are not asserted (speed is never asserted by a test): only that each was measured.

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('npm run bench -- --scenario startup (smoke)', () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'startup-smoke-')), 'startup.json');
  after(() => fs.rmSync(path.dirname(out), { recursive: true, force: true }));

  it('measures the warm start and an admin command against their baselines', { timeout: 300_000 }, async () => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of ['DATABASE_URL', 'TEST_PG_URL', 'DATA_DIR']) delete env[name];
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'bench/run.ts', '--scenario', 'startup', '--smoke', '--quiet', '--out', out],
      {
        cwd: ROOT,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, output);

    type Ratio = { oursMs: number; baselineMs: number; tsxMs: number; ratio: number; target: string; pass: boolean };
    const results = JSON.parse(fs.readFileSync(out, 'utf8')) as { runs: number; firstStartMs: number; warmStart: Ratio; admin: Ratio };
    assert.equal(results.runs, 1);
    assert.ok(results.firstStartMs > 0);
    for (const [name, r] of Object.entries({ warmStart: results.warmStart, admin: results.admin })) {
      for (const figure of ['oursMs', 'baselineMs', 'tsxMs'] as const) assert.ok(r[figure] > 0, `${name}.${figure}`);
      assert.equal(r.ratio, Math.round((r.oursMs / r.baselineMs) * 100) / 100, `${name}.ratio`);
      assert.equal(r.target, '≤ 2×');
      assert.equal(r.pass, r.ratio <= 2, `${name}.pass`);
    }
    assert.doesNotMatch(fs.readFileSync(out, 'utf8'), /postgres:\/\//, 'no database URL (with its password) in the results');
    assert.match(output, /^\| warm start to ready \| \d+ \| \d+ \| embedded PostgreSQL alone \d+ \| [\d.]+× \| ≤ 2× \| (pass|FAIL) \|$/m);
    assert.match(output, /^\| admin command \| \d+ \| \d+ \| node \+ one connection \d+ \| [\d.]+× \| ≤ 2× \| (pass|FAIL) \|$/m);
  });
});
