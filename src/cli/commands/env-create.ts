import { createEnvironment } from '../../db/directory.js';
import { parseEnvironmentRef } from '../../db/names.js';
import { positional, type Command } from '../command.js';

export const envCreate: Command = {
  words: ['env', 'create'],
  usage: '<org>/<env>',
  summary: 'create an environment of an organization',
  positionals: ['org/env'],
  options: {},
  async run(context, args) {
    const ref = parseEnvironmentRef(positional(args, 0));
    const environment = await createEnvironment(await context.db(), ref);
    return {
      json: { environment },
      text: `created environment ${environment.organization}/${environment.name} (${environment.id})`,
    };
  },
};
