import { repairEnvironment } from '../../db/directory.js';
import { parseEnvironmentRef } from '../../db/names.js';
import { positional, type Command } from '../command.js';

export const envRepair: Command = {
  words: ['env', 'repair'],
  usage: '<org>/<env>',
  summary: "re-create or repair an environment's sandbox schema and query role (attributes, memberships, grants)",
  positionals: ['org/env'],
  options: {},
  async run(context, args) {
    const ref = parseEnvironmentRef(positional(args, 0));
    const repaired = await repairEnvironment(await context.db(), ref);
    return {
      json: { environment: repaired },
      text: `repaired environment ${repaired.organization}/${repaired.name}: schema ${repaired.schema}, role ${repaired.role}`,
    };
  },
};
