import type { ParseArgsConfig } from 'node:util';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { OpenDatabase } from '../db/database.js';
import type { Database } from '../db/schema.js';

/** Wrong command line: exit code 2 and a pointer to --help. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface CommandContext {
  /** The migrated database, opened on first use (so a usage error never starts Postgres). */
  db(): Promise<Kysely<Database>>;
  /** The same database with its pool and URL (for commands that need raw connections: COPY, the sandbox). */
  database(): Promise<OpenDatabase>;
  log: Logger;
}

export interface CommandArgs {
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
}

export interface CommandResult {
  /** Printed as the one JSON document on stdout with --json. */
  json: Record<string, unknown>;
  /** Printed as one line otherwise. */
  text: string;
}

/** One row of the command table: `words` are matched first, the rest is parsed with `options`. */
export interface Command {
  words: readonly [string] | readonly [string, string];
  /** Arguments and options after the words, for --help, e.g. `<email> --password <p>`. */
  usage: string;
  summary: string;
  positionals: string[];
  /** How many of the last positionals may be left out (default none). */
  optionalPositionals?: number;
  options: NonNullable<ParseArgsConfig['options']>;
  run(context: CommandContext, args: CommandArgs): Promise<CommandResult>;
}

export function requiredString(args: CommandArgs, name: string): string {
  const value = args.values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`missing --${name}`);
  return value;
}

export function positional(args: CommandArgs, index: number): string {
  const value = args.positionals[index];
  if (value === undefined) throw new UsageError(`missing argument ${index + 1}`);
  return value;
}
