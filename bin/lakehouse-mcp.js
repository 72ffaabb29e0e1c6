#!/usr/bin/env node
// The installed bin: `lakehouse-mcp admin <command>` and `lakehouse-mcp conformance <url>`. Plain JS so it runs
// without a build; tsx compiles the TypeScript sources on the fly.
import { register } from 'tsx/esm/api';

const [subcommand, ...rest] = process.argv.slice(2);
const commands = {
  admin: '../src/cli/admin.ts',
  conformance: '../src/cli/conformance.ts',
};

if (!subcommand || !Object.hasOwn(commands, subcommand)) {
  const stream = subcommand === '--help' || subcommand === '-h' ? process.stdout : process.stderr;
  stream.write(
    'usage: lakehouse-mcp admin <command> [--json]   (lakehouse-mcp admin --help lists the commands)\n' +
      '       lakehouse-mcp conformance <url> [--token <t> | --client-id <id> --client-secret <s>] [--junit <file>]\n',
  );
  process.exit(stream === process.stdout ? 0 : 2);
}

register();
const { main } = await import(commands[subcommand]);
process.exitCode = await main(rest);
