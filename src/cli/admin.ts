import { parseCliArgs } from './args.js';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { loadConfig } from '../config.js';
import { isEntryPoint } from '../entry-point.js';
import type { OpenDatabase } from '../db/database.js';
import { DirectoryError } from '../db/errors.js';
import { AppError } from '../errors.js';
import type { Database } from '../db/schema.js';
import { UsageError, type Command } from './command.js';
import { commands } from './commands/index.js';

// `npm run admin -- <command>` / `lakehouse-mcp admin <command>`. Contract: with --json exactly one JSON
// document on stdout; logs on stderr; an error is one `error: …` line on stderr, exit 1 (2: usage), nothing changed.

const GLOBAL_OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processIo: Io = {
  stdout: (text) => process.stdout.write(`${text}\n`),
  stderr: (text) => process.stderr.write(`${text}\n`),
};

function helpText(): string {
  const synopses = commands.map((c) => `  admin ${c.words.join(' ')} ${c.usage}`);
  const width = Math.max(...synopses.map((s) => s.length)) + 3;
  const lines = commands.map((c, i) => `${synopses[i] ?? ''}`.padEnd(width) + c.summary);
  return [
    'usage: admin <command> [--json]',
    '',
    'commands:',
    ...lines,
    '',
    'options:',
    '  --json   print exactly one JSON document on stdout (logs go to stderr)',
    '  --help   this help',
    '',
    'Acts on DATABASE_URL, else on the embedded PostgreSQL in DATA_DIR (default ./.data), also while the server runs.',
  ].join('\n');
}

function findCommand(argv: string[]): Command | undefined {
  return commands.find((c) => c.words.every((word, i) => argv[i] === word));
}

function parseCommandArgs(command: Command, rest: string[]) {
  try {
    return parseCliArgs({
      args: rest,
      options: { ...command.options, ...GLOBAL_OPTIONS },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    // parseArgs reports unknown options and missing values as TypeErrors with ERR_PARSE_ARGS_* codes.
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function oneLine(text: string): string {
  return text.trim().replace(/\s*\n\s*/g, ' | ');
}

function errorCode(error: unknown): string {
  if (error instanceof DirectoryError || error instanceof AppError) return error.code;
  if (error instanceof UsageError) return 'usage';
  return 'failed';
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const wantsJson = argv.includes('--json');
  const command = findCommand(argv);
  let opened: OpenDatabase | undefined;
  let log: Logger | undefined;
  try {
    if (!command) {
      if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
        (argv.length === 0 ? io.stderr : io.stdout)(helpText());
        return argv.length === 0 ? 2 : 0;
      }
      const words = argv
        .filter((a) => !a.startsWith('-'))
        .slice(0, 2)
        .join(' ');
      throw new UsageError(`unknown command "${words}"`);
    }
    const { values, positionals } = parseCommandArgs(command, argv.slice(command.words.length));
    if (values.help) {
      io.stdout(`usage: admin ${command.words.join(' ')} ${command.usage} [--json]\n  ${command.summary}`);
      return 0;
    }
    const fewest = command.positionals.length - (command.optionalPositionals ?? 0);
    if (positionals.length < fewest || positionals.length > command.positionals.length) {
      throw new UsageError(`expected ${command.positionals.map((p) => `<${p}>`).join(' ')}, got ${positionals.length} argument(s)`);
    }

    const config = loadConfig();
    // Loaded only now: kysely and pg cost a third of a second that --help and usage errors skip.
    // `default`: a CommonJS package's exports, alike under Node and in the bundle (which gives a lazily loaded
    // CommonJS chunk no named exports).
    const [{ default: pino }, { openDatabase }] = await Promise.all([import('pino'), import('../db/database.js')]);
    // Quiet unless asked: the CLI's own output is the point; LOG_LEVEL=info shows the start-up steps.
    const logger = pino({ level: process.env.LOG_LEVEL || 'warn' }, pino.destination({ fd: 2, sync: true }));
    log = logger;
    let database: Promise<OpenDatabase> | undefined;
    const open = () =>
      (database ??= openDatabase(config, logger).then((o) => {
        opened = o;
        return o;
      }));
    const context = { log: logger, database: open, db: async (): Promise<Kysely<Database>> => (await open()).db };
    const result = await command.run(context, { values, positionals });
    io.stdout(wantsJson ? JSON.stringify(result.json) : result.text);
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const hint = error instanceof UsageError ? ' (see admin --help)' : '';
    io.stderr(`error: ${oneLine(message)}${hint}`);
    if (wantsJson) io.stdout(JSON.stringify({ error: { code: errorCode(error), message: oneLine(message) } }));
    if (!(error instanceof UsageError || error instanceof DirectoryError)) log?.debug({ err: error }, 'admin command failed');
    return error instanceof UsageError ? 2 : 1;
  } finally {
    await opened?.close();
  }
}

if (isEntryPoint(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
