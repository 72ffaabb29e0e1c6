import { createUser } from '../../db/directory.js';
import { DirectoryError } from '../../db/errors.js';
import { checkEmail } from '../../db/names.js';
import { passwordWeakness } from '../../db/passwords.js';
import { positional, requiredString, type Command } from '../command.js';

export const userCreate: Command = {
  words: ['user', 'create'],
  usage: '<email> --password <p>',
  summary: 'create a user who signs in with this email and password (12+ characters)',
  positionals: ['email'],
  options: { password: { type: 'string' } },
  async run(context, args) {
    const email = positional(args, 0);
    const password = requiredString(args, 'password');
    checkEmail(email);
    const weakness = passwordWeakness(password);
    if (weakness) throw new DirectoryError('weak_password', weakness);
    const user = await createUser(await context.db(), email, password);
    return { json: { user }, text: `created user ${user.email} (${user.id})` };
  },
};
