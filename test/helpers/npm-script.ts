import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

/**
 * The node arguments of a package.json script of the form `node <args…>` (npm start, npm run admin), so that
 * tests run exactly what the script runs, without npm in between (its own start-up and signal forwarding).
 */
export function npmScriptArgs(name: string): string[] {
  const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const [command, ...args] = (scripts[name] ?? '').split(/\s+/);
  if (command !== 'node') throw new Error(`npm run ${name} is not "node …": ${scripts[name]}`);
  return args;
}
