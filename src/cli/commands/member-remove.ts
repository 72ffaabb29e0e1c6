import { checkEmail, parseEnvironmentRef } from '../../db/names.js';
import { removeMember } from '../../oauth/admin.js';
import { positional, type Command } from '../command.js';

export const memberRemove: Command = {
  words: ['member', 'remove'],
  usage: '<email> <org>/<env>',
  summary: 'remove a user from an environment, revoke the access they gave clients there and sign them out of the browser',
  positionals: ['email', 'org/env'],
  options: {},
  async run(context, args) {
    const email = checkEmail(positional(args, 0));
    const ref = parseEnvironmentRef(positional(args, 1));
    const result = await removeMember(await context.db(), email, ref);
    return {
      json: { membership: result },
      text: `${result.email} is no longer a member of ${result.organization}/${result.environment}; revoked ${result.revoked_grants} grant(s)`,
    };
  },
};
