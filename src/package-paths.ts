import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Where the package's files are, wherever this module runs from: src/ (tsx, development and tests), dist/
// (tsc's output: the worker and import processes) or dist/bundle/ (the bundled server and admin CLI, whose
// modules all share one location). Files read at run time are found from here, never relative to a module.

const here = path.dirname(fileURLToPath(import.meta.url));

function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}

/** The folder holding package.json, docs/ and node_modules/. */
export const PACKAGE_ROOT = findPackageRoot(here);

const compiled = here.startsWith(path.join(PACKAGE_ROOT, 'dist'));

/** The module tree this process runs: dist/ when compiled, src/ under tsx (the same layout below it). */
export const CODE_DIR = path.join(PACKAGE_ROOT, compiled ? 'dist' : 'src');

/** The path of a module of that tree that runs as its own process, e.g. `lakehouse/duckdb/worker-main`. */
export function entryModule(name: string): string {
  return path.join(CODE_DIR, `${name}${compiled ? '.js' : '.ts'}`);
}
