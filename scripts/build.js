// `npm run build` (also run by `prepare`, so by `npm ci`): compiles src/ to dist/ so that `npm start`, the
// admin CLI and the bin run plain JavaScript, copies the files the code reads by path beside its output, and
// records what it was built from (scripts/build-info.js). tsx is for development only (tests, codegen, bench).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { writeBuildInfo } from './build-info.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

// Invalidate first: an interrupted build must read as stale, never as current.
fs.rmSync(path.join(ROOT, 'dist', 'build-info.json'), { force: true });

for (const project of ['tsconfig.client.json', 'tsconfig.build.json']) {
  const result = spawnSync(process.execPath, [tsc, '-p', project], { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

/** Every non-TypeScript file under src/ (YAML, the generated .cjs validators, JSON) is read at run time by a path relative to its module. */
function copyAssets(dir) {
  for (const entry of fs.readdirSync(path.join(ROOT, 'src', dir), { withFileTypes: true })) {
    const relative = path.join(dir, entry.name);
    if (entry.isDirectory()) copyAssets(relative);
    else if (!entry.name.endsWith('.ts')) {
      fs.mkdirSync(path.join(ROOT, 'dist', dir), { recursive: true });
      fs.copyFileSync(path.join(ROOT, 'src', relative), path.join(ROOT, 'dist', relative));
    }
  }
}
copyAssets('');

writeBuildInfo(ROOT);
