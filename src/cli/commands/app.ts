import { DirectoryError } from '../../db/errors.js';
import { formatEnvironmentRef, parseEnvironmentRef } from '../../db/names.js';
import { findEnvironment } from '../../oauth/admin.js';
import { findClientName, listEnvironmentApps, revokeApp } from '../../oauth/connected-apps.js';
import { positional, type Command } from '../command.js';

export const appList: Command = {
  words: ['app', 'list'],
  usage: '<org>/<env>',
  summary: 'list the apps users authorized in an environment: who, scopes, when authorized and last used',
  positionals: ['org/env'],
  options: {},
  async run(context, args) {
    const ref = parseEnvironmentRef(positional(args, 0));
    const db = await context.db();
    const apps = await listEnvironmentApps(db, await findEnvironment(db, ref));
    const lines = apps.map(
      (a) =>
        `${a.client_id}  ${a.name}  ${a.user}  ${a.scopes.join(',')}  → ${a.redirect_hosts.join(',')}  authorized ${a.authorized_at}  last used ${a.last_used_at}`,
    );
    return {
      json: { apps },
      text: lines.length
        ? lines.join('\n')
        : `no apps are authorized in ${formatEnvironmentRef(ref)} (service accounts: admin service-account list ${formatEnvironmentRef(ref)})`,
    };
  },
};

export const appRevoke: Command = {
  words: ['app', 'revoke'],
  usage: '<client_id> [<org>/<env>]',
  summary: "revoke every user's authorization of an app (in one environment, or all): its tokens stop within seconds",
  positionals: ['client_id', 'org/env'],
  optionalPositionals: 1,
  options: {},
  async run(context, args) {
    const clientId = positional(args, 0);
    const ref = args.positionals[1] === undefined ? undefined : parseEnvironmentRef(args.positionals[1]);
    const db = await context.db();
    const environmentId = ref ? await findEnvironment(db, ref) : undefined;
    const client = await findClientName(db, clientId);
    if (client.serviceAccount) {
      throw new DirectoryError(
        'invalid_name',
        `${clientId} is a service account: revoke it with \`admin service-account revoke ${clientId}\``,
      );
    }
    const revoked = await revokeApp(db, { clientId, ...(environmentId ? { environmentId } : {}) }, 'revoked by an administrator');
    const where = ref ? ` in ${formatEnvironmentRef(ref)}` : '';
    return {
      json: {
        app: {
          client_id: clientId,
          name: client.name,
          revoked_grants: revoked.length,
          ...(ref ? { organization: ref.organization, environment: ref.environment } : {}),
        },
      },
      text: revoked.length
        ? `revoked "${client.name}" (${clientId})${where}: ${revoked.length} authorization(s); its tokens stop within seconds`
        : `"${client.name}" (${clientId}) had no live authorization${where}; nothing to revoke`,
    };
  },
};
