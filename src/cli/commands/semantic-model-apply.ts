import path from 'node:path';
import { loadConfig } from '../../config.js';
import { findEnvironment } from '../../db/directory.js';
import { parseEnvironmentRef } from '../../db/names.js';
import { loadSecretKey } from '../../secret-key.js';
import { positional, type Command } from '../command.js';

export const semanticModelApply: Command = {
  words: ['semantic-model', 'apply'],
  usage: '<org>/<env> <file.yaml|file.json>',
  summary: 'create or update a semantic model (specs/schemas/semantic-model.yaml), planned in the sandbox first',
  positionals: ['org/env', 'file'],
  options: {},
  async run(context, args) {
    const ref = parseEnvironmentRef(positional(args, 0));
    const file = path.resolve(positional(args, 1));
    // Loaded when the command runs: every admin command would otherwise pay for this one's modules.
    const [{ startLakehouse }, { applyModel, checkModel, planInSandbox, readModelFile }, { loadSqlParser }] = await Promise.all([
      import('../../lakehouse/index.js'),
      import('../../lakehouse/semantic-models.js'),
      import('../../lakehouse/sql-guard.js'),
    ]);
    await loadSqlParser();
    // Read and checked before the database opens: a bad file changes nothing and starts nothing.
    const doc = checkModel(readModelFile(file));
    const { db } = await context.database();
    const environment = await findEnvironment(db, ref);
    const config = loadConfig();
    const lakehouse = await startLakehouse({ config, db, secret: loadSecretKey(config), log: context.log });
    try {
      const applied = await applyModel(db, environment.id, doc, planInSandbox(lakehouse, environment.id));
      return {
        json: { semantic_model: applied },
        text: `${applied.status} semantic model ${applied.name} (version ${applied.version}) in ${ref.organization}/${ref.environment}`,
      };
    } finally {
      await lakehouse.close();
    }
  },
};
