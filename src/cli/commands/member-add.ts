import { addMember } from '../../db/directory.js';
import { checkEmail, parseEnvironmentRef, parseRole } from '../../db/names.js';
import { positional, requiredString, type Command } from '../command.js';

export const memberAdd: Command = {
  words: ['member', 'add'],
  usage: '<email> <org>/<env> --role reader|writer|admin',
  summary: 'give a user a role in an environment (changes the role of an existing member)',
  positionals: ['email', 'org/env'],
  options: { role: { type: 'string' } },
  async run(context, args) {
    const email = positional(args, 0);
    const ref = parseEnvironmentRef(positional(args, 1));
    const role = parseRole(requiredString(args, 'role'));
    checkEmail(email);
    const membership = await addMember(await context.db(), email, ref, role);
    const where = `${membership.organization}/${membership.environment}`;
    const was = membership.previous_role && membership.previous_role !== role ? ` (was ${membership.previous_role})` : '';
    return { json: { membership }, text: `${membership.email} is ${membership.role} of ${where}${was}` };
  },
};
