#!/usr/bin/env node
// The installed bin: `lakehouse-mcp admin <command>`. Plain JS so it runs without a build; tsx compiles the
// TypeScript sources on the fly.
import { register } from 'tsx/esm/api';

const [subcommand, ...rest] = process.argv.slice(2);

if (subcommand !== 'admin') {
  const stream = subcommand === '--help' || subcommand === '-h' ? process.stdout : process.stderr;
  stream.write('usage: lakehouse-mcp admin <command> [--json]   (lakehouse-mcp admin --help lists the commands)\n');
  process.exit(stream === process.stdout ? 0 : 2);
}

register();
const { main } = await import('../src/cli/admin.ts');
process.exitCode = await main(rest);
