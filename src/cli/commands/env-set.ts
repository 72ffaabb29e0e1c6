import { setEnvironmentTimeZone } from '../../db/directory.js';
import { parseEnvironmentRef } from '../../db/names.js';
import { positional, requiredString, type Command } from '../command.js';

export const envSet: Command = {
  words: ['env', 'set'],
  usage: '<org>/<env> --time-zone <IANA name>',
  summary: "change an environment's settings (its time zone)",
  positionals: ['org/env'],
  options: { 'time-zone': { type: 'string' } },
  async run(context, args) {
    const ref = parseEnvironmentRef(positional(args, 0));
    const environment = await setEnvironmentTimeZone(await context.db(), ref, requiredString(args, 'time-zone'));
    return {
      json: { environment },
      text: `${environment.organization}/${environment.name} time zone: ${environment.time_zone} (was ${environment.previous_time_zone})`,
    };
  },
};
