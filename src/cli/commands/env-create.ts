import { createEnvironment } from '../../db/directory.js';
import { parseEnvironmentRef } from '../../db/names.js';
import { positional, type Command } from '../command.js';

export const envCreate: Command = {
  words: ['env', 'create'],
  usage: '<org>/<env> [--time-zone <IANA name>]',
  summary: 'create an environment of an organization (time zone UTC unless given)',
  positionals: ['org/env'],
  options: { 'time-zone': { type: 'string' } },
  async run(context, args) {
    const ref = parseEnvironmentRef(positional(args, 0));
    const timeZone = args.values['time-zone'];
    const environment = await createEnvironment(await context.db(), ref, typeof timeZone === 'string' ? { timeZone } : {});
    return {
      json: { environment },
      text: `created environment ${environment.organization}/${environment.name} (${environment.id}), time zone ${environment.time_zone}`,
    };
  },
};
