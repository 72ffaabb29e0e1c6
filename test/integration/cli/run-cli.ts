import { execFile } from 'node:child_process';
import path from 'node:path';
import { npmScriptArgs } from '../../helpers/npm-script.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..', '..');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Environment for a CLI child: ours minus any database settings, plus `env`. */
export function cliEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const { DATABASE_URL: _url, TEST_PG_URL: _test, DATA_DIR: _dir, LOG_LEVEL: _level, ...rest } = process.env;
  return { ...rest, ...env };
}

/** Run the admin CLI as `npm run admin` does (the compiled CLI in dist/), or through the installed bin with `via: 'bin'`. */
export function runCli(args: string[], env: Record<string, string>, via: 'npm' | 'bin' = 'npm'): Promise<CliResult> {
  const argv = via === 'bin' ? [path.join(ROOT, 'bin', 'lakehouse-mcp.js'), 'admin', ...args] : [...npmScriptArgs('admin'), ...args];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, argv, { cwd: ROOT, env: cliEnv(env), timeout: 60_000 }, (error, stdout, stderr) => {
      // A non-zero exit is a result to assert on; only a failure to run at all (spawn error, timeout) rejects.
      if (!error) resolve({ code: 0, stdout, stderr });
      else if (typeof error.code === 'number') resolve({ code: error.code, stdout, stderr });
      else reject(new Error(`could not run the CLI: ${error.message}`, { cause: error }));
    });
  });
}

/** stdout parsed as exactly one JSON document (JSON.parse fails on anything before or after it). */
export function singleJson(result: CliResult): Record<string, unknown> {
  const parsed: unknown = JSON.parse(result.stdout);
  if (typeof parsed !== 'object' || parsed === null) throw new Error(`stdout is not a JSON object: ${result.stdout}`);
  return parsed as Record<string, unknown>;
}
