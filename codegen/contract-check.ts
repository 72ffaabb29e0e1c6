/**
 * `npm run contract:check`: the contract gate run by CI.
 *  1. specs/ compile, and src/generated/ + docs/reference/ are exactly what they compile to (no hand edits);
 *  2. the bundled contract passes the Redocly lint rules in redocly.yaml.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { drift, generate } from './generate.js';
import { SpecError } from './specs.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function checkFresh(): Promise<boolean> {
  const problems = drift(await generate());
  if (problems.length === 0) {
    console.log('✓ generated code is fresh');
    return true;
  }
  console.error('✗ generated files are out of date with specs/ (never edit them by hand):');
  for (const p of problems) console.error(`    ${p}`);
  console.error('  Fix: run `npm run generate` and commit specs/ together with src/generated/ and docs/reference/.');
  return false;
}

function lint(): boolean {
  const result = spawnSync(
    path.join(ROOT, 'node_modules/.bin/redocly'),
    ['lint', 'src/generated/openapi.json', '--config', 'redocly.yaml', '--format', 'stylish'],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } },
  );
  if (result.status === 0) {
    console.log('✓ the contract passes its lint rules (redocly.yaml)');
    return true;
  }
  const report = `${result.stdout}${result.stderr}`
    .split('\n')
    .filter((line) => /error|warning|^\s+\d+:\d+/.test(line) && !/[║╔╚]/.test(line));
  console.error('✗ the contract fails its lint rules (redocly.yaml):');
  for (const line of report) console.error(`    ${line.trim()}`);
  return false;
}

async function main(): Promise<void> {
  let ok = false;
  try {
    ok = await checkFresh();
  } catch (error) {
    console.error(error instanceof SpecError ? `✗ spec error: ${error.message}` : error);
  }
  ok = lint() && ok;
  process.exit(ok ? 0 : 1);
}

void main();
