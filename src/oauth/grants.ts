import { sql, type Kysely, type Transaction } from 'kysely';
import type { Config } from '../config.js';
import type { Database } from '../db/schema.js';
import type { Client } from './clients.js';
import { CODE_VERIFIER, pkceChallenge, randomToken, safeEqual, sha256 } from './crypto.js';
import { invalidGrant, invalidRequest, invalidScope, invalidTarget, OAuthError, unauthorizedClient } from './errors.js';
import type { KeyStore } from './keys.js';
import type { Scope } from './principal.js';
import { formatScope, intersect, parseScope, roleScopes, sortScopes } from './scopes.js';
import {
  AUTHORIZATION_CODE_TTL_SECONDS,
  REFRESH_TOKEN_TTL_SECONDS,
  resourceUrl,
  signAccessToken,
  type AccessTokenSubject,
} from './tokens.js';
import type { JwtTokenVerifier } from './verifier.js';

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token?: string;
  scope: string;
}

type Db = Kysely<Database> | Transaction<Database>;

const seconds = (n: number) => sql<Date>`now() + make_interval(secs => ${n})`;

/** Names and ids of a user's grant, for the access token's claims (null when membership or user is gone). */
async function userSubject(db: Db, grant: { id: string; user_id: string; environment_id: string; client_id: string }) {
  return db
    .selectFrom('memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .innerJoin('environments as e', 'e.id', 'm.environment_id')
    .innerJoin('organizations as o', 'o.id', 'e.organization_id')
    .innerJoin('oauth_clients as c', (join) => join.on('c.id', '=', grant.client_id))
    .select(['m.role', 'u.email', 'e.name as environment', 'o.id as organization_id', 'o.name as organization', 'c.name as client_name'])
    .where('m.user_id', '=', grant.user_id)
    .where('m.environment_id', '=', grant.environment_id)
    .executeTakeFirst();
}

/** Issues, rotates and revokes: the token endpoint's grants and the grants behind every token. */
export class GrantService {
  constructor(
    private readonly config: Config,
    private readonly db: Kysely<Database>,
    private readonly keys: KeyStore,
    private readonly verifier: JwtTokenVerifier,
  ) {}

  /** `resource`, when sent, must be the MCP resource (RFC 8707). */
  checkResource(resource: string | undefined): void {
    if (resource !== undefined && resource !== resourceUrl(this.config)) {
      throw invalidTarget(`The only resource of this server is ${resourceUrl(this.config)}.`);
    }
  }

  async createCode(args: {
    clientId: string;
    redirectUri: string;
    codeChallenge: string;
    resource: string | undefined;
    userId: string;
    environmentId: string;
    scopes: Scope[];
  }): Promise<string> {
    const code = randomToken(32);
    await this.db
      .insertInto('oauth_authorization_codes')
      .values({
        code_hash: sha256(code),
        client_id: args.clientId,
        redirect_uri: args.redirectUri,
        code_challenge: args.codeChallenge,
        resource: args.resource ?? null,
        user_id: args.userId,
        environment_id: args.environmentId,
        scopes: args.scopes,
        expires_at: seconds(AUTHORIZATION_CODE_TTL_SECONDS),
      })
      .execute();
    return code;
  }

  /** Marks a grant revoked (its refresh tokens die with it; its access tokens within a poll interval everywhere). */
  async revokeGrant(db: Db, grantId: string, reason: string): Promise<void> {
    await db
      .updateTable('oauth_grants')
      .set({ revoked_at: sql<Date>`clock_timestamp()`, revoked_reason: reason })
      .where('id', '=', grantId)
      .where('revoked_at', 'is', null)
      .execute();
  }

  private async issue(
    db: Db,
    subject: AccessTokenSubject,
    refresh: { parentHash: Buffer | null } | undefined,
  ): Promise<TokenResponse> {
    let refreshToken: string | undefined;
    if (refresh) {
      refreshToken = randomToken(32);
      const row = {
        token_hash: sha256(refreshToken),
        grant_id: subject.grantId,
        parent_hash: refresh.parentHash,
        scopes: [...subject.scopes],
        expires_at: seconds(REFRESH_TOKEN_TTL_SECONDS),
      };
      // A rotation marks its parent used in the same statement that inserts the successor (one round trip).
      const { parentHash } = refresh;
      if (parentHash) {
        await db
          .with('used', (q) => q.updateTable('oauth_refresh_tokens').set({ used_at: sql<Date>`now()` }).where('token_hash', '=', parentHash).returning('token_hash'))
          .insertInto('oauth_refresh_tokens')
          .values(row)
          .execute();
      } else {
        await db.insertInto('oauth_refresh_tokens').values(row).execute();
      }
    }
    const access = await signAccessToken(this.config, this.keys, subject);
    return {
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: access.expiresIn,
      ...(refreshToken ? { refresh_token: refreshToken } : {}),
      scope: formatScope(subject.scopes),
    };
  }

  /**
   * authorization_code: the code is single-use (a replay revokes what its first use issued), lives at most
   * AUTHORIZATION_CODE_TTL_SECONDS, and is bound to the client, redirect URI, PKCE verifier, resource,
   * environment and scopes. Two concurrent redemptions: the row lock lets exactly one through.
   */
  async redeemCode(client: Client, form: Record<string, string>): Promise<TokenResponse> {
    if (!client.grantTypes.includes('authorization_code')) throw unauthorizedClient('This client may not use the authorization_code grant.');
    const { code, code_verifier: verifier, redirect_uri: redirectUri } = form;
    if (!code) throw invalidRequest('code is required.');
    if (!verifier) throw invalidRequest('code_verifier is required: this server requires PKCE.');
    if (!CODE_VERIFIER.test(verifier)) throw invalidGrant('code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~.');
    this.checkResource(form.resource);
    const outcome = await this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('oauth_authorization_codes').selectAll().where('code_hash', '=', sha256(code)).forUpdate().executeTakeFirst();
      if (!row) return { error: invalidGrant('The authorization code is unknown.') };
      if (row.consumed_at) {
        if (row.grant_id) await this.revokeGrant(trx, row.grant_id, 'authorization code replayed');
        return { error: invalidGrant('The authorization code was already used; the tokens issued for it are revoked.'), revoked: row.grant_id };
      }
      if (row.client_id !== client.id) return { error: invalidGrant('The authorization code was issued to another client.') };
      if (row.expires_at.getTime() <= Date.now()) return { error: invalidGrant('The authorization code has expired.') };
      if (redirectUri !== undefined ? redirectUri !== row.redirect_uri : client.redirectUris.length !== 1) {
        return { error: invalidGrant('redirect_uri differs from the one of the authorization request.') };
      }
      if (!safeEqual(pkceChallenge(verifier), row.code_challenge)) return { error: invalidGrant('The code_verifier does not match the code_challenge.') };
      if (form.resource !== undefined && row.resource !== null && form.resource !== row.resource) {
        return { error: invalidTarget('resource differs from the one of the authorization request.') };
      }
      const who = await userSubject(trx, { id: '', user_id: row.user_id, environment_id: row.environment_id, client_id: client.id });
      const scopes = who ? intersect(row.scopes, roleScopes(who.role)) : [];
      await trx.updateTable('oauth_authorization_codes').set({ consumed_at: sql<Date>`now()` }).where('code_hash', '=', row.code_hash).execute();
      if (!who || scopes.length === 0) return { error: invalidGrant('The user no longer has access to this environment.') };
      const grant = await trx
        .insertInto('oauth_grants')
        .values({ client_id: client.id, environment_id: row.environment_id, user_id: row.user_id, scopes })
        .returning('id')
        .executeTakeFirstOrThrow();
      await trx.updateTable('oauth_authorization_codes').set({ grant_id: grant.id }).where('code_hash', '=', row.code_hash).execute();
      const tokens = await this.issue(
        trx,
        {
          kind: 'user',
          subjectId: row.user_id,
          subjectName: who.email,
          clientId: client.id,
          clientName: who.client_name,
          organizationId: who.organization_id,
          organization: who.organization,
          environmentId: row.environment_id,
          environment: who.environment,
          scopes,
          grantId: grant.id,
        },
        client.grantTypes.includes('refresh_token') ? { parentHash: null } : undefined,
      );
      return { tokens };
    });
    if ('revoked' in outcome && outcome.revoked) this.verifier.markRevoked(outcome.revoked);
    if (outcome.error) throw outcome.error;
    return outcome.tokens;
  }

  /**
   * refresh_token: rotated on every use; presenting a used one revokes the whole grant (RFC 9700 §4.14.2).
   * The scope may narrow, never widen; the environment never changes; the user's current role still applies.
   */
  async refresh(client: Client, form: Record<string, string>): Promise<TokenResponse> {
    if (!client.grantTypes.includes('refresh_token')) throw unauthorizedClient('This client may not use the refresh_token grant.');
    const token = form.refresh_token;
    if (!token) throw invalidRequest('refresh_token is required.');
    this.checkResource(form.resource);
    const requested = parseScope(form.scope);
    const outcome = await this.db.transaction().execute(async (trx) => {
      // The token, its grant and what userSubject() reads (the user's membership, names), in one round trip.
      const row = await trx
        .selectFrom('oauth_refresh_tokens as r')
        .innerJoin('oauth_grants as g', 'g.id', 'r.grant_id')
        .leftJoin('memberships as m', (join) => join.onRef('m.user_id', '=', 'g.user_id').onRef('m.environment_id', '=', 'g.environment_id'))
        .leftJoin('users as u', 'u.id', 'm.user_id')
        .leftJoin('environments as e', 'e.id', 'm.environment_id')
        .leftJoin('organizations as o', 'o.id', 'e.organization_id')
        .leftJoin('oauth_clients as c', 'c.id', 'g.client_id')
        .select(['r.token_hash', 'r.scopes', 'r.expires_at', 'r.used_at', 'g.id as grant_id', 'g.client_id', 'g.user_id', 'g.environment_id', 'g.revoked_at'])
        .select(['m.role', 'u.email', 'e.name as environment', 'o.id as organization_id', 'o.name as organization', 'c.name as client_name'])
        .where('r.token_hash', '=', sha256(token))
        .forUpdate('r')
        .executeTakeFirst();
      if (!row || row.client_id !== client.id) return { error: invalidGrant('The refresh token is unknown.') };
      if (row.revoked_at) return { error: invalidGrant('The refresh token was revoked.') };
      if (row.used_at) {
        await this.revokeGrant(trx, row.grant_id, 'refresh token reused');
        return { error: invalidGrant('The refresh token was already used; the grant is revoked. Sign in again.'), revoked: row.grant_id };
      }
      if (row.expires_at.getTime() <= Date.now()) return { error: invalidGrant('The refresh token has expired. Sign in again.') };
      if (requested && requested.some((s) => !row.scopes.includes(s))) {
        return { error: invalidScope(`The scope may narrow but not widen: this grant has "${formatScope(row.scopes)}".`) };
      }
      const { role, email, environment, organization_id: organizationId, organization, client_name: clientName } = row;
      const who =
        row.user_id && role && email && environment && organizationId && organization && clientName
          ? { role, email, environment, organization_id: organizationId, organization, client_name: clientName }
          : undefined;
      const scopes = who ? intersect(requested ?? row.scopes, roleScopes(who.role)) : [];
      if (!who || !row.user_id || scopes.length === 0) {
        await trx.updateTable('oauth_refresh_tokens').set({ used_at: sql<Date>`now()` }).where('token_hash', '=', row.token_hash).execute();
        await this.revokeGrant(trx, row.grant_id, 'access removed');
        return { error: invalidGrant('The user no longer has access to this environment.'), revoked: row.grant_id };
      }
      const tokens = await this.issue(
        trx,
        {
          kind: 'user',
          subjectId: row.user_id,
          subjectName: who.email,
          clientId: client.id,
          clientName: who.client_name,
          organizationId: who.organization_id,
          organization: who.organization,
          environmentId: row.environment_id,
          environment: who.environment,
          scopes,
          grantId: row.grant_id,
        },
        { parentHash: row.token_hash },
      );
      return { tokens };
    });
    if ('revoked' in outcome && outcome.revoked) this.verifier.markRevoked(outcome.revoked);
    if (outcome.error) throw outcome.error;
    return outcome.tokens;
  }

  /** client_credentials: service accounts only; their environment and scopes come from the account, never the request. */
  async clientCredentials(client: Client, authenticated: boolean, form: Record<string, string>): Promise<TokenResponse> {
    if (!authenticated) throw unauthorizedClient('client_credentials needs a confidential client (a service account) that authenticates with its secret.');
    if (!client.grantTypes.includes('client_credentials')) throw unauthorizedClient('This client may not use the client_credentials grant.');
    this.checkResource(form.resource);
    const requested = parseScope(form.scope);
    const account = await this.db
      .selectFrom('service_accounts as s')
      .innerJoin('oauth_grants as g', 'g.service_account_id', 's.client_id')
      .innerJoin('environments as e', 'e.id', 's.environment_id')
      .innerJoin('organizations as o', 'o.id', 'e.organization_id')
      .select(['s.name', 's.scopes', 's.revoked_at', 's.environment_id', 'e.name as environment', 'o.id as organization_id', 'o.name as organization', 'g.id as grant_id', 'g.revoked_at as grant_revoked_at'])
      .where('s.client_id', '=', client.id)
      .executeTakeFirst();
    if (!account || account.revoked_at || account.grant_revoked_at) throw new OAuthError('invalid_client', 'This service account is revoked.', 401);
    const granted = sortScopes(account.scopes);
    if (requested && requested.some((s) => !granted.includes(s))) {
      throw invalidScope(`This service account has "${formatScope(granted)}"; it cannot ask for more.`);
    }
    return this.issue(
      this.db,
      {
        kind: 'service',
        subjectId: client.id,
        subjectName: account.name,
        clientId: client.id,
        clientName: account.name,
        organizationId: account.organization_id,
        organization: account.organization,
        environmentId: account.environment_id,
        environment: account.environment,
        scopes: requested ?? granted,
        grantId: account.grant_id,
      },
      undefined,
    );
  }

  /** The grant and client of a refresh token, if it is one of ours. */
  async findRefreshToken(token: string) {
    return this.db
      .selectFrom('oauth_refresh_tokens as r')
      .innerJoin('oauth_grants as g', 'g.id', 'r.grant_id')
      .select(['r.scopes', 'r.expires_at', 'r.used_at', 'r.created_at', 'g.id as grant_id', 'g.client_id', 'g.user_id', 'g.environment_id', 'g.revoked_at'])
      .where('r.token_hash', '=', sha256(token))
      .executeTakeFirst();
  }

  /** Revokes a user's grants in an environment (member removed). Answers their ids. */
  async revokeUserGrants(db: Db, userId: string, environmentId: string, reason: string): Promise<string[]> {
    const rows = await db
      .updateTable('oauth_grants')
      .set({ revoked_at: sql<Date>`clock_timestamp()`, revoked_reason: reason })
      .where('user_id', '=', userId)
      .where('environment_id', '=', environmentId)
      .where('revoked_at', 'is', null)
      .returning('id')
      .execute();
    return rows.map((r) => r.id);
  }
}
