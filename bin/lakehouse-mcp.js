#!/usr/bin/env node
// The installed bin and what `npm start` / `npm run admin` run: `lakehouse-mcp start`, `lakehouse-mcp admin
// <command>`, `lakehouse-mcp conformance <url>`. It runs the compiled JavaScript in dist/ (built by `npm ci`
// through `prepare`, or `npm run build`), never TypeScript, and refuses a dist/ older than the sources.
import path from 'node:path';
import { exitIfStale, staleBuild } from '../scripts/build-info.js';

const [subcommand, ...rest] = process.argv.slice(2);
const commands = {
  start: '../dist/bundle/main.js',
  admin: '../dist/bundle/admin.js',
  conformance: '../dist/cli/conformance.js',
};

if (!subcommand || !Object.hasOwn(commands, subcommand)) {
  const stream = subcommand === '--help' || subcommand === '-h' ? process.stdout : process.stderr;
  stream.write(
    'usage: lakehouse-mcp start                      (the server; configured by environment variables, see README)\n' +
      '       lakehouse-mcp admin <command> [--json]   (lakehouse-mcp admin --help lists the commands)\n' +
      '       lakehouse-mcp conformance <url> [--token <t> | --client-id <id> --client-secret <s>] [--junit <file>]\n',
  );
  process.exit(stream === process.stdout ? 0 : 2);
}

// The check stats src/'s files at once (a few ms); it reads them only when the stats differ, while the modules load.
const checking = staleBuild(path.resolve(import.meta.dirname, '..'));
// Each entry exports what runs it and runs only when it is itself the entry (`node dist/bundle/main.js`).
const module = await import(commands[subcommand]).catch(async (error) => {
  exitIfStale(await checking); // a half-built or missing dist/ says so, rather than how its import failed
  throw error;
});
exitIfStale(await checking);
if (subcommand === 'start') module.run();
else process.exitCode = await module.main(rest);
