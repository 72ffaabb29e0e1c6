/**
 * `npm run contract:check [-- --base DIR] [-- --specs DIR]`: the contract gate run by CI.
 *  1. specs/ compile, and src/generated/ + docs/reference/ are exactly what they compile to (no hand edits);
 *     and src/generated/db.ts is what the migrations give (codegen/db-types.ts, `npm run db:types`);
 *  2. the bundled contract passes the Redocly lint rules in redocly.yaml;
 *  3. no breaking change against the released contract (specs/released/, or `--base DIR`): one line per change,
 *     `<json pointer>: <rule>: <why it breaks clients>` (rules: codegen/breaking/rules.ts).
 * With `--specs DIR` (a contract directory other than specs/), only step 3 runs, on DIR.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { compileContract, diffContracts, formatBreaking } from './breaking/compare.js';
import { checkDbTypes } from './db-types.js';
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

/** Step 3: the contract in `specsDir` against the one in `baseDir`. */
export function checkBreaking(baseDir: string, specsDir: string): boolean {
  const rel = (dir: string) => path.relative(process.cwd(), dir) || '.';
  const base = compileContract(baseDir);
  if (!base) {
    console.log(`✓ no breaking changes: ${rel(baseDir)}/ holds no released contract yet (npm run contract:release -- <version>)`);
    return true;
  }
  const current = compileContract(specsDir);
  if (!current) {
    console.error(`✗ ${rel(specsDir)}/ holds no contract (openapi.yaml)`);
    return false;
  }
  const { breaking } = diffContracts(base, current);
  if (breaking.length === 0) {
    console.log(`✓ no breaking changes against ${rel(baseDir)}/`);
    return true;
  }
  console.error(`✗ ${breaking.length} breaking change${breaking.length === 1 ? '' : 's'} against ${rel(baseDir)}/:`);
  for (const line of formatBreaking(breaking)) console.error(`    ${line}`);
  console.error('  Fix: keep the old shape (add, do not remove or tighten), or release a new major version of the contract.');
  return false;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { base: { type: 'string' }, specs: { type: 'string' } } });
  const specsDir = path.resolve(values.specs ?? path.join(ROOT, 'specs'));
  const baseDir = path.resolve(values.base ?? path.join(ROOT, 'specs/released'));
  const onlyBreaking = specsDir !== path.join(ROOT, 'specs');
  let ok = true;
  if (!onlyBreaking) {
    try {
      ok = await checkFresh();
    } catch (error) {
      console.error(error instanceof SpecError ? `✗ spec error: ${error.message}` : error);
      ok = false;
    }
    ok = lint() && ok;
    // src/generated/db.ts is what the migrations give (an embedded PostgreSQL, a few seconds).
    ok = (await checkDbTypes()) && ok;
  }
  try {
    ok = checkBreaking(baseDir, specsDir) && ok;
  } catch (error) {
    console.error(error instanceof SpecError ? `✗ spec error: ${error.message}` : error);
    ok = false;
  }
  process.exit(ok ? 0 : 1);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) void main();
