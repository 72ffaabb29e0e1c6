/**
 * `npm run contract:release -- <version> [--allow-breaking]`: snapshots the contract (specs/openapi.yaml,
 * specs/tools/, specs/schemas/) into specs/released/, records the version in specs/released/release.json and
 * prepends a CHANGELOG.md entry generated from the diff against the previous release (additions,
 * deprecations and, when allowed, breaking changes). The snapshot is the baseline of `npm run contract:check`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { compileContract, diffContracts, formatBreaking, type ContractDiff, type Note } from './breaking/compare.js';
import { SpecError } from './specs.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?$/;
/** What a release snapshots: the whole contract, nothing else of specs/. */
const CONTRACT_ENTRIES = ['openapi.yaml', 'tools', 'schemas'];
const RELEASE_FILE = 'release.json';

export interface ReleaseOptions {
  specsDir: string;
  releasedDir: string;
  version: string;
  /** ISO date of the release (YYYY-MM-DD). */
  date: string;
  allowBreaking?: boolean;
}

export class ReleaseError extends Error {}

function compareVersions(a: string, b: string): number {
  const parts = (v: string) => (v.split('-')[0] ?? '').split('.').map(Number);
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

/** The version of the release in `releasedDir`, if any. */
export function releasedVersion(releasedDir: string): string | undefined {
  const file = path.join(releasedDir, RELEASE_FILE);
  if (!fs.existsSync(file)) return undefined;
  const { version } = JSON.parse(fs.readFileSync(file, 'utf8')) as { version?: unknown };
  return typeof version === 'string' ? version : undefined;
}

function changelogEntry(version: string, date: string, diff: ContractDiff, first: boolean): string {
  const lines = [`## ${version} (${date})`, ''];
  const section = (title: string, notes: readonly Note[]) => {
    if (notes.length === 0) return;
    lines.push(`### ${title}`, '');
    for (const note of notes) lines.push(`- ${note.text} — \`${note.pointer}\``);
    lines.push('');
  };
  if (first) lines.push('First release of the contract.', '');
  // On a first release every operation and tool is an addition; their fields are not listed one by one.
  section('Added', first ? diff.added.filter((n) => /^(operation|tool) /.test(n.text)) : diff.added);
  section('Deprecated', diff.deprecated);
  section(
    'Breaking',
    diff.breaking.map((b) => ({ pointer: b.pointer, text: `${b.rule}: ${b.why}` })),
  );
  if (!first && diff.added.length + diff.deprecated.length + diff.breaking.length === 0) lines.push('No contract changes.', '');
  return lines.join('\n');
}

/** Makes the release; returns the changelog entry it wrote. */
export function release(options: ReleaseOptions): string {
  const { specsDir, releasedDir, version, date } = options;
  if (!SEMVER.test(version)) throw new ReleaseError(`"${version}" is not a semantic version (e.g. 0.1.0)`);
  const previous = releasedVersion(releasedDir);
  if (previous && compareVersions(version, previous) <= 0) {
    throw new ReleaseError(`version ${version} must be greater than the released ${previous}`);
  }
  const current = compileContract(specsDir);
  if (!current) throw new ReleaseError(`${specsDir} holds no contract (openapi.yaml)`);
  const base = compileContract(releasedDir) ?? { openapi: { paths: {} }, tools: new Map() };
  const diff = diffContracts(base, current);
  if (diff.breaking.length > 0 && !options.allowBreaking) {
    throw new ReleaseError(
      `${diff.breaking.length} breaking change(s) against ${previous ?? 'the released contract'}; ` +
        `pass --allow-breaking for a new major version:\n  ${formatBreaking(diff.breaking).join('\n  ')}`,
    );
  }

  fs.mkdirSync(releasedDir, { recursive: true });
  for (const entry of CONTRACT_ENTRIES) fs.rmSync(path.join(releasedDir, entry), { recursive: true, force: true });
  for (const entry of CONTRACT_ENTRIES) {
    const from = path.join(specsDir, entry);
    if (fs.existsSync(from)) fs.cpSync(from, path.join(releasedDir, entry), { recursive: true });
  }
  const tools = [...current.tools.keys()].sort();
  fs.writeFileSync(path.join(releasedDir, RELEASE_FILE), JSON.stringify({ version, date, tools }, null, 2) + '\n');
  const entry = changelogEntry(version, date, diff, previous === undefined);
  const changelog = path.join(releasedDir, 'CHANGELOG.md');
  const header = '# Contract changelog\n\nWritten by `npm run contract:release`; newest first.\n\n';
  const older = fs.existsSync(changelog) ? fs.readFileSync(changelog, 'utf8').replace(header, '') : '';
  fs.writeFileSync(changelog, header + entry + (older ? `\n${older}` : ''));
  return entry;
}

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'allow-breaking': { type: 'boolean' } } });
  const [version] = positionals;
  if (!version) {
    console.error('usage: npm run contract:release -- <version> [--allow-breaking]');
    process.exit(2);
  }
  try {
    const entry = release({
      specsDir: path.join(ROOT, 'specs'),
      releasedDir: path.join(ROOT, 'specs/released'),
      version,
      date: new Date().toISOString().slice(0, 10),
      allowBreaking: values['allow-breaking'] === true,
    });
    console.log(`released contract ${version} into specs/released/\n\n${entry}`);
  } catch (error) {
    if (error instanceof ReleaseError || error instanceof SpecError) {
      console.error(`✗ ${error.message}`);
      process.exit(1);
    }
    throw error;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
