import crypto from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { DirectoryError } from '../db/errors.js';
import { checkEmail, checkSlug, formatEnvironmentRef, type EnvironmentRef } from '../db/names.js';
import type { Database } from '../db/schema.js';
import { randomToken, sha256 } from './crypto.js';
import type { Scope } from './principal.js';
import { isScope, sortScopes } from './scopes.js';

// The OAuth side of the admin CLI: service accounts, and removing a member (which revokes their grants).

export interface ServiceAccountInfo {
  client_id: string;
  name: string;
  organization: string;
  environment: string;
  scopes: Scope[];
  created_at: string;
  revoked_at: string | null;
}

export function parseScopeList(value: string): Scope[] {
  const parts = value.split(/[\s,]+/).filter(Boolean);
  if (parts.length === 0 || !parts.every(isScope)) {
    throw new DirectoryError('invalid_name', `invalid scopes "${value}": use read, or read,write`);
  }
  return sortScopes(parts);
}

export async function findEnvironment(db: Kysely<Database>, ref: EnvironmentRef) {
  checkSlug('organization', ref.organization);
  checkSlug('environment', ref.environment);
  const environment = await db
    .selectFrom('environments')
    .innerJoin('organizations', 'organizations.id', 'environments.organization_id')
    .select(['environments.id'])
    .where('organizations.name', '=', ref.organization)
    .where('environments.name', '=', ref.environment)
    .executeTakeFirst();
  if (!environment) {
    const name = formatEnvironmentRef(ref);
    throw new DirectoryError('not_found', `unknown environment ${name}: create it with \`admin env create ${name}\``);
  }
  return environment.id;
}

/**
 * A confidential client bound to one environment with fixed scopes, for the client_credentials grant. The
 * secret is returned once and stored as its SHA-256.
 */
export async function createServiceAccount(
  db: Kysely<Database>,
  ref: EnvironmentRef,
  name: string,
  scopes: Scope[],
): Promise<ServiceAccountInfo & { client_secret: string }> {
  const trimmed = name.trim();
  if (!trimmed || trimmed.length > 200) throw new DirectoryError('invalid_name', 'the service account name must be 1 to 200 characters');
  const environmentId = await findEnvironment(db, ref);
  const clientId = crypto.randomUUID();
  const secret = randomToken(32);
  try {
    return await db.transaction().execute(async (trx) => {
      await trx
        .insertInto('oauth_clients')
        .values({
          id: clientId,
          name: trimmed,
          redirect_uris: [],
          grant_types: ['client_credentials'],
          token_endpoint_auth_method: 'client_secret_basic',
          secret_hash: sha256(secret),
          scope: scopes.join(' '),
        })
        .execute();
      const account = await trx
        .insertInto('service_accounts')
        .values({ client_id: clientId, environment_id: environmentId, name: trimmed, scopes })
        .returning(['created_at'])
        .executeTakeFirstOrThrow();
      await trx
        .insertInto('oauth_grants')
        .values({ client_id: clientId, environment_id: environmentId, service_account_id: clientId, scopes })
        .execute();
      return {
        client_id: clientId,
        client_secret: secret,
        name: trimmed,
        organization: ref.organization,
        environment: ref.environment,
        scopes,
        created_at: account.created_at.toISOString(),
        revoked_at: null,
      };
    });
  } catch (error) {
    if ((error as { code?: string }).code === '23505') {
      throw new DirectoryError('already_exists', `a service account named "${trimmed}" already exists in ${formatEnvironmentRef(ref)}`);
    }
    throw error;
  }
}

export async function listServiceAccounts(db: Kysely<Database>, ref: EnvironmentRef): Promise<ServiceAccountInfo[]> {
  const environmentId = await findEnvironment(db, ref);
  const rows = await db
    .selectFrom('service_accounts')
    .select(['client_id', 'name', 'scopes', 'created_at', 'revoked_at'])
    .where('environment_id', '=', environmentId)
    .orderBy('created_at')
    .execute();
  return rows.map((r) => ({
    client_id: r.client_id,
    name: r.name,
    organization: ref.organization,
    environment: ref.environment,
    scopes: sortScopes(r.scopes),
    created_at: r.created_at.toISOString(),
    revoked_at: r.revoked_at?.toISOString() ?? null,
  }));
}

/** Revokes a service account: no new tokens, and its live access tokens stop within seconds on every process. */
export async function revokeServiceAccount(
  db: Kysely<Database>,
  clientId: string,
): Promise<{ client_id: string; name: string; already_revoked: boolean }> {
  return db.transaction().execute(async (trx) => {
    const account = await trx
      .selectFrom('service_accounts')
      .select(['name', 'revoked_at'])
      .where('client_id', '=', clientId)
      .forUpdate()
      .executeTakeFirst();
    if (!account) throw new DirectoryError('not_found', `no service account has the client_id ${clientId}`);
    if (!account.revoked_at) {
      await trx
        .updateTable('service_accounts')
        .set({ revoked_at: sql<Date>`clock_timestamp()` })
        .where('client_id', '=', clientId)
        .execute();
    }
    await trx
      .updateTable('oauth_grants')
      .set({ revoked_at: sql<Date>`clock_timestamp()`, revoked_reason: 'service account revoked' })
      .where('service_account_id', '=', clientId)
      .where('revoked_at', 'is', null)
      .execute();
    return { client_id: clientId, name: account.name, already_revoked: account.revoked_at !== null };
  });
}

/** Removes a user's membership of an environment, revokes every grant they gave a client there and ends their browser sessions. */
export async function removeMember(
  db: Kysely<Database>,
  email: string,
  ref: EnvironmentRef,
): Promise<{ user_id: string; email: string; organization: string; environment: string; revoked_grants: number }> {
  checkEmail(email);
  const environmentId = await findEnvironment(db, ref);
  return db.transaction().execute(async (trx) => {
    const user = await trx
      .selectFrom('users')
      .select(['id', 'email'])
      .where((eb) => eb.fn<string>('lower', ['email']), '=', email.toLowerCase())
      .executeTakeFirst();
    if (!user) throw new DirectoryError('not_found', `unknown user ${email}`);
    const removed = await trx
      .deleteFrom('memberships')
      .where('user_id', '=', user.id)
      .where('environment_id', '=', environmentId)
      .executeTakeFirst();
    if (removed.numDeletedRows === 0n) {
      throw new DirectoryError('not_found', `${user.email} is not a member of ${formatEnvironmentRef(ref)}`);
    }
    // Their browser sessions end too (every one: a session is the user's, not one environment's).
    await trx.deleteFrom('browser_sessions').where('user_id', '=', user.id).execute();
    const revoked = await trx
      .updateTable('oauth_grants')
      .set({ revoked_at: sql<Date>`clock_timestamp()`, revoked_reason: 'member removed' })
      .where('user_id', '=', user.id)
      .where('environment_id', '=', environmentId)
      .where('revoked_at', 'is', null)
      .returning('id')
      .execute();
    return {
      user_id: user.id,
      email: user.email,
      organization: ref.organization,
      environment: ref.environment,
      revoked_grants: revoked.length,
    };
  });
}
