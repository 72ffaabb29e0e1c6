import { createOrganization } from '../../db/directory.js';
import { checkSlug } from '../../db/names.js';
import { positional, type Command } from '../command.js';

export const orgCreate: Command = {
  words: ['org', 'create'],
  usage: '<org>',
  summary: 'create an organization (name: lowercase letters, digits, hyphens)',
  positionals: ['org'],
  options: {},
  async run(context, args) {
    // Validate before opening the database: a typo should not start PostgreSQL.
    const name = checkSlug('organization', positional(args, 0));
    const organization = await createOrganization(await context.db(), name);
    return { json: { organization }, text: `created organization ${organization.name} (${organization.id})` };
  },
};
