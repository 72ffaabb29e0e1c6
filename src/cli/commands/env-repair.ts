import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../config.js';
import { findEnvironment } from '../../db/directory.js';
import { parseEnvironmentRef } from '../../db/names.js';
import { positional, type Command } from '../command.js';

/** Folders of a write that no version names are removed after this long (a reader may still use a replaced one). */
const SWEEP_GRACE_MS = 60 * 60_000;

export const envRepair: Command = {
  words: ['env', 'repair'],
  usage: '<org>/<env>',
  summary: "check an environment's lakehouse tables (every committed file present) and remove files no table version names",
  positionals: ['org/env'],
  options: {},
  async run(context, args) {
    const ref = parseEnvironmentRef(positional(args, 0));
    const db = await context.db();
    const environment = await findEnvironment(db, ref);
    // Loaded when the command runs: every admin command would otherwise pay for this one's modules.
    const { TableStore } = await import('../../lakehouse/duckdb/table-store.js');
    const store = new TableStore(db, path.join(loadConfig().dataDir, 'lakehouse'));
    const tables = await store.tables(environment.id);
    const missing = tables.flatMap((t) => t.files.filter((file) => !fs.existsSync(file)).map((file) => ({ table: t.name, file })));
    const removed = await store.sweep(environment.id, SWEEP_GRACE_MS);
    const name = `${environment.organization}/${environment.name}`;
    const problems = missing.map((m) => `table ${m.table} lacks ${m.file}: restore it from a backup of DATA_DIR, or load the table again`);
    return {
      json: { environment: { ...environment, tables: tables.length, missing_files: missing, removed_folders: removed } },
      text:
        `checked ${name}: ${tables.length} table${tables.length === 1 ? '' : 's'}, ${removed} unreferenced folder${removed === 1 ? '' : 's'} removed` +
        (problems.length > 0 ? `; ${problems.join('; ')}` : '; every file is present'),
    };
  },
};
