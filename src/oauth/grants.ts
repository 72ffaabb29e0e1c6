import { sql, type Kysely, type Transaction } from 'kysely';
import type { Config } from '../config.js';
import { ROLES } from '../db/names.js';
import type { Database } from '../db/schema.js';
import type { Client } from './clients.js';
import { CODE_VERIFIER, pkceChallenge, randomToken, safeEqual, sha256 } from './crypto.js';
import { invalidGrant, invalidRequest, invalidScope, invalidTarget, OAuthError, unauthorizedClient } from './errors.js';
import type { KeyStore } from './keys.js';
import type { Principal, Scope } from './principal.js';
import { windowOf, type WindowGate } from './rate-limit.js';
import { ALL_SCOPES, formatScope, intersect, parseScope, roleScopes, sortScopes } from './scopes.js';
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

/** roleScopes() of every role, for oauth_refresh_grant (which intersects in SQL): {"reader": ["read"], ...}. */
const ROLE_SCOPES = JSON.stringify(Object.fromEntries(ROLES.map((role) => [role, roleScopes(role)])));

/** What oauth_refresh_grant answers: always one row (the token's columns are null when it judged none). */
interface RefreshOutcome {
  hits: number;
  window_start: Date | null;
  client_current: boolean;
  verdict: 'unknown' | 'revoked' | 'reused' | 'expired' | 'widened' | 'access_removed' | 'ok' | null;
  scopes: string[] | null;
  new_scopes: string[] | null;
  grant_id: string | null;
  user_id: string | null;
  environment_id: string | null;
  email: string | null;
  environment: string | null;
  organization_id: string | null;
  organization: string | null;
  client_name: string | null;
  issued: number;
}

/**
 * The client record a refresh request was authenticated with is no longer the client's (deleted, secret or
 * grant types changed since it was cached): nothing was done; authenticate afresh and try again. Should it
 * escape (the client changed twice within one request), it is an invalid_client answer.
 */
export class StaleClientError extends OAuthError {
  constructor() {
    super('invalid_client', 'The client changed while this request ran; send it again.', 401);
  }
}

function present<T>(value: T | null, what: string): T {
  if (value === null) throw new Error(`oauth_refresh_grant answered no ${what}`);
  return value;
}

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

  /**
   * A code for one authorization request (`requestId`), or undefined when that request already has one: a
   * consent form posted twice yields one code (the unique request_id decides, across processes).
   */
  async createCode(args: {
    requestId: string;
    clientId: string;
    redirectUri: string;
    codeChallenge: string;
    resource: string | undefined;
    userId: string;
    environmentId: string;
    scopes: Scope[];
  }): Promise<string | undefined> {
    const code = randomToken(32);
    const row = await this.db
      .insertInto('oauth_authorization_codes')
      .values({
        request_id: args.requestId,
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
      .onConflict((oc) => oc.column('request_id').doNothing())
      .returning('code_hash')
      .executeTakeFirst();
    return row ? code : undefined;
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

  /**
   * Revokes one access token (RFC 7009), for a token without a grant of its own to revoke (a service
   * account's grant is the account). Stored for every process's verifier, refused in this one at once.
   */
  async revokeAccessToken(principal: Principal): Promise<void> {
    const expiresAt = new Date(principal.expiresAt * 1000);
    await this.db
      .insertInto('oauth_revoked_access_tokens')
      .values({ jti: principal.tokenId, client_id: principal.clientId, expires_at: expiresAt })
      .onConflict((oc) => oc.column('jti').doNothing())
      .execute();
    this.verifier.markTokenRevoked(principal.tokenId, expiresAt.getTime());
  }

  /** Forgets single-token revocations whose tokens have expired (they are refused as expired). */
  async pruneRevokedAccessTokens(): Promise<void> {
    await this.db
      .deleteFrom('oauth_revoked_access_tokens')
      .where('expires_at', '<', sql<Date>`now() - interval '1 hour'`)
      .execute();
  }

  /** Answers tokens for `subject`; with a refresh token (the first of its grant, stored in `db`) when `withRefresh`. */
  private async issue(db: Db, subject: AccessTokenSubject, withRefresh: boolean): Promise<TokenResponse> {
    let refreshToken: string | undefined;
    if (withRefresh) {
      refreshToken = randomToken(32);
      await db
        .insertInto('oauth_refresh_tokens')
        .values({
          token_hash: sha256(refreshToken),
          grant_id: subject.grantId,
          parent_hash: null,
          scopes: [...subject.scopes],
          expires_at: seconds(REFRESH_TOKEN_TTL_SECONDS),
        })
        .execute();
    }
    return this.tokenResponse(subject, refreshToken);
  }

  /** Signs the access token and answers it with `refreshToken` (already stored). */
  private async tokenResponse(subject: AccessTokenSubject, refreshToken: string | undefined): Promise<TokenResponse> {
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
   * environment and scopes. Two concurrent redemptions: the row lock lets exactly one through. A wrong
   * verifier burns the code (it issued nothing yet, so nothing is revoked): whoever stole a code gets one guess.
   */
  async redeemCode(client: Client, form: Record<string, string>): Promise<TokenResponse> {
    if (!client.grantTypes.includes('authorization_code'))
      throw unauthorizedClient('This client may not use the authorization_code grant.');
    const { code, code_verifier: verifier, redirect_uri: redirectUri } = form;
    if (!code) throw invalidRequest('code is required.');
    if (!verifier) throw invalidRequest('code_verifier is required: this server requires PKCE.');
    if (!CODE_VERIFIER.test(verifier)) throw invalidGrant('code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~.');
    this.checkResource(form.resource);
    const outcome = await this.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('oauth_authorization_codes')
        .selectAll()
        .where('code_hash', '=', sha256(code))
        .forUpdate()
        .executeTakeFirst();
      if (!row) return { error: invalidGrant('The authorization code is unknown.') };
      if (row.consumed_at) {
        if (!row.grant_id)
          return { error: invalidGrant('The authorization code was already used or refused; start the authorization again.') };
        await this.revokeGrant(trx, row.grant_id, 'authorization code replayed');
        return {
          error: invalidGrant('The authorization code was already used; the tokens issued for it are revoked.'),
          revoked: row.grant_id,
        };
      }
      if (row.client_id !== client.id) return { error: invalidGrant('The authorization code was issued to another client.') };
      if (row.expires_at.getTime() <= Date.now()) return { error: invalidGrant('The authorization code has expired.') };
      if (redirectUri !== undefined ? redirectUri !== row.redirect_uri : client.redirectUris.length !== 1) {
        return { error: invalidGrant('redirect_uri differs from the one of the authorization request.') };
      }
      if (!safeEqual(pkceChallenge(verifier), row.code_challenge)) {
        await trx
          .updateTable('oauth_authorization_codes')
          .set({ consumed_at: sql<Date>`now()` })
          .where('code_hash', '=', row.code_hash)
          .execute();
        return {
          error: invalidGrant('The code_verifier does not match the code_challenge; the code is now void. Start the authorization again.'),
        };
      }
      if (form.resource !== undefined && row.resource !== null && form.resource !== row.resource) {
        return { error: invalidTarget('resource differs from the one of the authorization request.') };
      }
      const who = await userSubject(trx, { id: '', user_id: row.user_id, environment_id: row.environment_id, client_id: client.id });
      const scopes = who ? intersect(row.scopes, roleScopes(who.role)) : [];
      await trx
        .updateTable('oauth_authorization_codes')
        .set({ consumed_at: sql<Date>`now()` })
        .where('code_hash', '=', row.code_hash)
        .execute();
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
        client.grantTypes.includes('refresh_token'),
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
   *
   * One round trip, committed before the answer: the function oauth_refresh_grant (migration 0005, where
   * the statement is) reads the TOKEN_LIMIT window (`gate`) and checks that `client` (perhaps a cached
   * record) is still the client's; then it locks the token row, judges it (the rules below, in the order they
   * apply) and does what the verdict asks: marks the token used and inserts its successor, or revokes the
   * grant. It does nothing at all when the window is full or the client record is stale (StaleClientError:
   * authenticate again, then retry).
   */
  async refresh(client: Client, form: Record<string, string>, gate?: WindowGate): Promise<TokenResponse> {
    if (!client.grantTypes.includes('refresh_token')) throw unauthorizedClient('This client may not use the refresh_token grant.');
    const token = form.refresh_token;
    if (!token) throw invalidRequest('refresh_token is required.');
    this.checkResource(form.resource);
    const requested = parseScope(form.scope);
    const successor = randomToken(32);
    // Raw SQL: a call of the set-returning function of migration 0005 (one round trip; its casts pick the signature).
    const { rows } = await sql<RefreshOutcome>`SELECT * FROM oauth_refresh_grant(
        ${sha256(token)}, ${sha256(successor)}, ${client.id}, ${client.secretHash}::bytea, ${requested ?? null}::text[],
        ${ROLE_SCOPES}::jsonb, ${ALL_SCOPES}::text[], ${REFRESH_TOKEN_TTL_SECONDS}::integer,
        ${gate?.key ?? null}::text, ${gate?.seconds ?? null}::integer, ${gate?.limit ?? null}::integer)`.execute(this.db);
    const row = rows[0];
    if (!row) throw new Error('oauth_refresh_grant answered no row');
    if (gate) gate.admit(windowOf({ hits: row.hits, window_start: present(row.window_start, 'rate-limit window') }, gate.seconds));
    if (!row.client_current) throw new StaleClientError();
    switch (row.verdict) {
      case null:
      case 'unknown':
        throw invalidGrant('The refresh token is unknown.');
      case 'revoked':
        throw invalidGrant('The refresh token was revoked.');
      case 'reused':
        this.verifier.markRevoked(present(row.grant_id, 'grant'));
        throw invalidGrant('The refresh token was already used; the grant is revoked. Sign in again.');
      case 'expired':
        throw invalidGrant('The refresh token has expired. Sign in again.');
      case 'widened':
        throw invalidScope(`The scope may narrow but not widen: this grant has "${formatScope(row.scopes ?? [])}".`);
      case 'access_removed':
        this.verifier.markRevoked(present(row.grant_id, 'grant'));
        throw invalidGrant('The user no longer has access to this environment.');
      case 'ok':
        break;
    }
    // Never hand out a refresh token that was not stored (the statement was committed when it answered).
    if (row.issued !== 1) throw new Error('oauth_refresh_grant judged the token good but stored no successor');
    return this.tokenResponse(
      {
        kind: 'user',
        subjectId: present(row.user_id, 'user'),
        subjectName: present(row.email, 'email'),
        clientId: client.id,
        clientName: present(row.client_name, 'client name'),
        organizationId: present(row.organization_id, 'organization'),
        organization: present(row.organization, 'organization name'),
        environmentId: present(row.environment_id, 'environment'),
        environment: present(row.environment, 'environment name'),
        scopes: sortScopes(present(row.new_scopes, 'scopes')),
        grantId: present(row.grant_id, 'grant'),
      },
      successor,
    );
  }

  /** client_credentials: service accounts only; their environment and scopes come from the account, never the request. */
  async clientCredentials(client: Client, authenticated: boolean, form: Record<string, string>): Promise<TokenResponse> {
    if (!authenticated)
      throw unauthorizedClient('client_credentials needs a confidential client (a service account) that authenticates with its secret.');
    if (!client.grantTypes.includes('client_credentials'))
      throw unauthorizedClient('This client may not use the client_credentials grant.');
    this.checkResource(form.resource);
    const requested = parseScope(form.scope);
    const account = await this.db
      .selectFrom('service_accounts as s')
      .innerJoin('oauth_grants as g', 'g.service_account_id', 's.client_id')
      .innerJoin('environments as e', 'e.id', 's.environment_id')
      .innerJoin('organizations as o', 'o.id', 'e.organization_id')
      .select([
        's.name',
        's.scopes',
        's.revoked_at',
        's.environment_id',
        'e.name as environment',
        'o.id as organization_id',
        'o.name as organization',
        'g.id as grant_id',
        'g.revoked_at as grant_revoked_at',
      ])
      .where('s.client_id', '=', client.id)
      .executeTakeFirst();
    if (!account || account.revoked_at || account.grant_revoked_at)
      throw new OAuthError('invalid_client', 'This service account is revoked.', 401);
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
      false,
    );
  }

  /** The grant and client of a refresh token, if it is one of ours. */
  async findRefreshToken(token: string) {
    return this.db
      .selectFrom('oauth_refresh_tokens as r')
      .innerJoin('oauth_grants as g', 'g.id', 'r.grant_id')
      .select([
        'r.scopes',
        'r.expires_at',
        'r.used_at',
        'r.created_at',
        'g.id as grant_id',
        'g.client_id',
        'g.user_id',
        'g.environment_id',
        'g.revoked_at',
      ])
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
