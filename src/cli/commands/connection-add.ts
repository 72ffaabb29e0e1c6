import { findEnvironment } from '../../db/directory.js';
import { parseEnvironmentRef } from '../../db/names.js';
import { loadConfig } from '../../config.js';
import { loadSecretKey } from '../../secret-key.js';
import { positional, requiredString, type Command } from '../command.js';

export const connectionAdd: Command = {
  words: ['connection', 'add'],
  usage: '<org>/<env> <name> --postgres-url <url>',
  summary: 'register an external PostgreSQL database (give it a read-only user); credentials are encrypted with SECRET_KEY',
  positionals: ['org/env', 'name'],
  options: { 'postgres-url': { type: 'string' } },
  async run(context, args) {
    const ref = parseEnvironmentRef(positional(args, 0));
    const name = positional(args, 1);
    const url = requiredString(args, 'postgres-url');
    // Loaded when the command runs: every admin command would otherwise pay for this one's modules.
    const { addConnection } = await import('../../lakehouse/connections.js');
    const db = await context.db();
    const environment = await findEnvironment(db, ref);
    const added = await addConnection(db, loadSecretKey(loadConfig()), environment.id, name, url);
    return {
      json: { connection: added },
      text: `added connection ${name} to ${ref.organization}/${ref.environment}: ${added.url} (PostgreSQL ${added.server_version})`,
    };
  },
};
