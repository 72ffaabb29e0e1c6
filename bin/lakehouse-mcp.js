#!/usr/bin/env node
// The installed bin and what `npm start` / `npm run admin` run: `lakehouse-mcp start`, `lakehouse-mcp admin
// <command>`, `lakehouse-mcp conformance <url>`. It runs the compiled JavaScript in dist/ (built by `npm ci`
// through `prepare`, or `npm run build`), never TypeScript, and refuses a dist/ older than the sources.
import path from 'node:path';
import { requireCurrentBuild } from '../scripts/build-info.js';

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

requireCurrentBuild(path.resolve(import.meta.dirname, '..'));
// main.js starts the server as it loads; the CLIs export main(argv) and run only when they are the entry.
const module = await import(commands[subcommand]);
if (subcommand !== 'start') process.exitCode = await module.main(rest);
