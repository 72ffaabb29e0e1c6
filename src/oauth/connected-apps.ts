import { sql, type Kysely } from 'kysely';
import { DirectoryError } from '../db/errors.js';
import type { Database } from '../db/schema.js';
import type { Scope } from './principal.js';
import { redirectTarget } from './redirect-uris.js';
import { sortScopes } from './scopes.js';
import { REFRESH_TOKEN_TTL_SECONDS } from './tokens.js';

// Connected apps: the clients users authorized, per environment, from their live grants. A grant is live until
// it is revoked or no token of it can still work: its last refresh token was issued (last_used_at) longer ago
// than a refresh token lives (access tokens live far less). Revoking marks the grants revoked: their refresh
// tokens stop at once and their access tokens on every process within a verifier poll (about a second).
// Shared by the account page (src/account/) and `admin app list|revoke`.

export interface ConnectedApp {
  client_id: string;
  name: string;
  /** The hosts (or schemes) its redirect URIs return to. */
  redirect_hosts: string[];
  organization: string;
  environment: string;
  /** The user who authorized it. */
  user: string;
  scopes: Scope[];
  /** When it was first authorized (of its live grants). */
  authorized_at: string;
  /** When it last came for tokens (code redeemed, refresh token used). */
  last_used_at: string;
}

function liveUserGrants(db: Kysely<Database>) {
  return db
    .selectFrom('oauth_grants as g')
    .innerJoin('oauth_clients as c', 'c.id', 'g.client_id')
    .innerJoin('users as u', 'u.id', 'g.user_id')
    .innerJoin('environments as e', 'e.id', 'g.environment_id')
    .innerJoin('organizations as o', 'o.id', 'e.organization_id')
    .select([
      'g.id',
      'g.client_id',
      'c.name',
      'c.redirect_uris',
      'o.name as organization',
      'e.name as environment',
      'u.email',
      'g.scopes',
      'g.created_at',
      'g.last_used_at',
    ])
    .where('g.revoked_at', 'is', null)
    .where('g.last_used_at', '>', sql<Date>`now() - make_interval(secs => ${REFRESH_TOKEN_TTL_SECONDS})`);
}

type GrantRow = Awaited<ReturnType<ReturnType<typeof liveUserGrants>['execute']>>[number];

function redirectHosts(uris: string[]): string[] {
  const hosts = new Set<string>();
  for (const uri of uris) {
    try {
      hosts.add(redirectTarget(uri).display);
    } catch {
      hosts.add(uri.slice(0, 100));
    }
  }
  return [...hosts];
}

/** One app per client, environment and user: its grants' scopes together, first authorized, last used. */
function group(rows: GrantRow[]): ConnectedApp[] {
  const apps = new Map<string, ConnectedApp>();
  for (const r of rows) {
    const key = JSON.stringify([r.client_id, r.organization, r.environment, r.email]);
    const app = apps.get(key);
    if (!app) {
      apps.set(key, {
        client_id: r.client_id,
        name: r.name,
        redirect_hosts: redirectHosts(r.redirect_uris),
        organization: r.organization,
        environment: r.environment,
        user: r.email,
        scopes: sortScopes(r.scopes),
        authorized_at: r.created_at.toISOString(),
        last_used_at: r.last_used_at.toISOString(),
      });
      continue;
    }
    app.scopes = sortScopes([...new Set([...app.scopes, ...r.scopes])]);
    if (r.created_at.toISOString() < app.authorized_at) app.authorized_at = r.created_at.toISOString();
    if (r.last_used_at.toISOString() > app.last_used_at) app.last_used_at = r.last_used_at.toISOString();
  }
  return [...apps.values()];
}

/** The apps a user authorized, in every environment, most recently used first. */
export async function listUserApps(db: Kysely<Database>, userId: string): Promise<ConnectedApp[]> {
  const rows = await liveUserGrants(db).where('g.user_id', '=', userId).orderBy('g.last_used_at', 'desc').execute();
  return group(rows);
}

/** The apps every user authorized in one environment, most recently used first. */
export async function listEnvironmentApps(db: Kysely<Database>, environmentId: string): Promise<ConnectedApp[]> {
  const rows = await liveUserGrants(db).where('g.environment_id', '=', environmentId).orderBy('g.last_used_at', 'desc').execute();
  return group(rows);
}

/**
 * Revokes the user grants of `clientId`: those of `userId` only when given, in `environmentId` only when given.
 * Answers the revoked grants' ids (for this process's verifier, which then refuses their tokens at once).
 */
export async function revokeApp(
  db: Kysely<Database>,
  target: { clientId: string; environmentId?: string; userId?: string },
  reason: string,
): Promise<string[]> {
  let query = db
    .updateTable('oauth_grants')
    .set({ revoked_at: sql<Date>`clock_timestamp()`, revoked_reason: reason })
    .where('client_id', '=', target.clientId)
    .where('user_id', 'is not', null)
    .where('revoked_at', 'is', null);
  if (target.environmentId) query = query.where('environment_id', '=', target.environmentId);
  if (target.userId) query = query.where('user_id', '=', target.userId);
  const rows = await query.returning('id').execute();
  return rows.map((r) => r.id);
}

/** The client's name, or a not_found error that says where client ids are listed. */
export async function findClientName(db: Kysely<Database>, clientId: string): Promise<{ name: string; serviceAccount: boolean }> {
  const client = await db
    .selectFrom('oauth_clients as c')
    .leftJoin('service_accounts as s', 's.client_id', 'c.id')
    .select(['c.name', 's.client_id as service_account'])
    .where('c.id', '=', clientId)
    .executeTakeFirst();
  if (!client) throw new DirectoryError('not_found', `no client has the client_id ${clientId}: see \`admin app list <org>/<env>\``);
  return { name: client.name, serviceAccount: client.service_account !== null };
}
