import { parseEnvironmentRef } from '../../db/names.js';
import { createServiceAccount, listServiceAccounts, parseScopeList, revokeServiceAccount } from '../../oauth/admin.js';
import { positional, requiredString, type Command } from '../command.js';

export const serviceAccountCreate: Command = {
  words: ['service-account', 'create'],
  usage: '<org>/<env> --name <n> --scopes read[,write]',
  summary: 'create a service account (client_credentials) bound to one environment; prints its client_id and secret once',
  positionals: ['org/env'],
  options: { name: { type: 'string' }, scopes: { type: 'string' } },
  async run(context, args) {
    const ref = parseEnvironmentRef(positional(args, 0));
    const name = requiredString(args, 'name');
    const scopes = parseScopeList(requiredString(args, 'scopes'));
    const account = await createServiceAccount(await context.db(), ref, name, scopes);
    return {
      json: { service_account: account },
      text: [
        `created service account "${account.name}" in ${account.organization}/${account.environment} with scopes ${account.scopes.join(' ')}`,
        `client_id:     ${account.client_id}`,
        `client_secret: ${account.client_secret}`,
        'The secret is shown only now: store it in your secret manager.',
      ].join('\n'),
    };
  },
};

export const serviceAccountList: Command = {
  words: ['service-account', 'list'],
  usage: '<org>/<env>',
  summary: "list an environment's service accounts (never their secrets)",
  positionals: ['org/env'],
  options: {},
  async run(context, args) {
    const ref = parseEnvironmentRef(positional(args, 0));
    const accounts = await listServiceAccounts(await context.db(), ref);
    const lines = accounts.map(
      (a) => `${a.client_id}  ${a.name}  ${a.scopes.join(',')}  created ${a.created_at}${a.revoked_at ? `  REVOKED ${a.revoked_at}` : ''}`,
    );
    return {
      json: { service_accounts: accounts },
      text: lines.length ? lines.join('\n') : `no service accounts in ${ref.organization}/${ref.environment}`,
    };
  },
};

export const serviceAccountRevoke: Command = {
  words: ['service-account', 'revoke'],
  usage: '<client_id>',
  summary: 'revoke a service account: no new tokens, and its tokens stop working within seconds',
  positionals: ['client_id'],
  options: {},
  async run(context, args) {
    const clientId = positional(args, 0);
    const result = await revokeServiceAccount(await context.db(), clientId);
    return {
      json: { service_account: result },
      text: result.already_revoked
        ? `service account "${result.name}" was already revoked`
        : `revoked service account "${result.name}" (${result.client_id})`,
    };
  },
};
