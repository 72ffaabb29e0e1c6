import { sql, type Kysely } from 'kysely';
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { Config } from '../config.js';
import type { AppError } from '../errors.js';
import type { Database } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { invalidToken } from './challenge.js';
import { SIGNING_ALG, type KeyStore } from './keys.js';
import type { Principal, Scope, TokenVerifier } from './principal.js';
import { isScope } from './scopes.js';
import { ACCESS_TOKEN_TTL_SECONDS, resourceUrl } from './tokens.js';

export interface JwtTokenVerifierOptions {
  /** How often each process asks the database for newly revoked grants; default 1 s. */
  pollIntervalMs?: number;
  /** Verified tokens kept in memory; default 50,000 (the oldest go first). */
  cacheSize?: number;
  /** Allowed clock difference with the issuer, in seconds; default 5. */
  clockToleranceSeconds?: number;
}

/** Only our own asymmetric algorithm: never `none`, never HMAC (whose "key" would be the public key). */
const ALGORITHMS = [SIGNING_ALG];
const MAX_TOKEN_LENGTH = 4096;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Revocations are re-read with this overlap: a revoking transaction may commit a little after its revoked_at. */
const POLL_OVERLAP_MS = 30_000;
/** A revoked grant is remembered until every token issued before its revocation has expired. */
const REVOKED_RETENTION_MS = (ACCESS_TOKEN_TTL_SECONDS + 120) * 1000;

const str = (payload: JWTPayload, name: string): string | undefined => {
  const value = payload[name];
  return typeof value === 'string' && value.length > 0 && value.length <= 2048 ? value : undefined;
};

/**
 * The resource side: verifies our RFC 9068 access tokens (jose, ES256 only, issuer, audience, `typ`,
 * expiry) against the signing keys in the database, and keeps each verified token in memory until it
 * expires, so a request with a known token costs a map lookup: no signature check, no database round trip.
 *
 * Revocation: every process polls `oauth_grants.revoked_at` and `oauth_revoked_access_tokens.revoked_at` once
 * per pollIntervalMs (one query per process, not per request) and from then on refuses tokens of those grants
 * and those single tokens (by jti), cached or not; so a revocation stops working everywhere within about a second.
 */
export class JwtTokenVerifier implements TokenVerifier {
  private readonly cache = new Map<string, Principal>();
  /** Grant id → when it was revoked (ms), while its tokens may still be unexpired. */
  private readonly revoked = new Map<string, number>();
  /** Access tokens revoked one by one: jti → when the token expires (ms); kept until then. */
  private readonly revokedTokens = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private since: Date | undefined;
  private polling: Promise<void> | undefined;
  private readonly pollIntervalMs: number;
  private readonly cacheSize: number;
  private readonly clockTolerance: number;
  private readonly audience: string;

  constructor(
    private readonly config: Config,
    private readonly db: Kysely<Database>,
    private readonly keys: KeyStore,
    private readonly log: Pick<Logger, 'warn' | 'debug'>,
    options: JwtTokenVerifierOptions = {},
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 1_000;
    this.cacheSize = options.cacheSize ?? 50_000;
    this.clockTolerance = options.clockToleranceSeconds ?? 5;
    this.audience = resourceUrl(config);
  }

  /** Loads the grants revoked recently (their tokens may be live) and starts polling. */
  async start(): Promise<void> {
    await this.poll();
    this.timer = setInterval(() => void this.poll(), this.pollIntervalMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** One poll for grants and tokens revoked since the last one (exposed for tests that cannot wait). */
  poll(): Promise<void> {
    return (this.polling ??= this.doPoll()
      .catch((error: unknown) => this.log.warn({ err: error }, 'polling for revoked grants failed'))
      .finally(() => {
        this.polling = undefined;
      }));
  }

  private async doPoll(): Promise<void> {
    const since = this.since ?? new Date(Date.now() - REVOKED_RETENTION_MS);
    // Raw SQL: two tables' json_agg subqueries and the statement's own timestamp, in one round trip.
    const { rows } = await sql<{ polled_at: Date; ids: { id: string; at: string }[]; jtis: { jti: string; exp: string }[] }>`
      SELECT statement_timestamp() AS polled_at,
             (SELECT coalesce(json_agg(json_build_object('id', id, 'at', revoked_at)), '[]'::json)
                FROM oauth_grants WHERE revoked_at > ${since}) AS ids,
             (SELECT coalesce(json_agg(json_build_object('jti', jti, 'exp', expires_at)), '[]'::json)
                FROM oauth_revoked_access_tokens WHERE revoked_at > ${since}) AS jtis`.execute(this.db);
    const row = rows[0];
    if (!row) return;
    for (const { id, at } of row.ids) this.markRevoked(id, Date.parse(at));
    for (const { jti, exp } of row.jtis) this.markTokenRevoked(jti, Date.parse(exp));
    this.since = new Date(row.polled_at.getTime() - POLL_OVERLAP_MS);
    const cutoff = Date.now() - REVOKED_RETENTION_MS;
    for (const [id, at] of this.revoked) if (at < cutoff) this.revoked.delete(id);
    // A revoked token past its expiry (and the clock tolerance) is refused as expired anyway.
    const expired = Date.now() - this.clockTolerance * 1000 - 60_000;
    for (const [jti, exp] of this.revokedTokens) if (exp < expired) this.revokedTokens.delete(jti);
  }

  /** Refuses the grant's tokens in this process at once (the revoking process need not wait for its poll). */
  markRevoked(grantId: string, at = Date.now()): void {
    if (this.revoked.has(grantId)) return;
    this.revoked.set(grantId, at);
    for (const [token, principal] of this.cache) if (principal.grantId === grantId) this.cache.delete(token);
  }

  /** Refuses one access token (by jti) in this process at once; `expiresAtMs`: when it expires anyway. */
  markTokenRevoked(jti: string, expiresAtMs: number): void {
    if (this.revokedTokens.has(jti)) return;
    this.revokedTokens.set(jti, expiresAtMs);
    for (const [token, principal] of this.cache) if (principal.tokenId === jti) this.cache.delete(token);
  }

  isRevoked(grantId: string | undefined): boolean {
    return grantId !== undefined && this.revoked.has(grantId);
  }

  private refused(principal: Principal): boolean {
    return this.isRevoked(principal.grantId) || this.revokedTokens.has(principal.tokenId);
  }

  private refuse(description: string): AppError {
    return invalidToken(this.config, description);
  }

  async verify(token: string): Promise<Principal> {
    const cached = this.cache.get(token);
    if (cached) {
      if (cached.expiresAt * 1000 > Date.now() && !this.refused(cached)) return cached;
      this.cache.delete(token);
    }
    const principal = await this.verifyUncached(token);
    if (this.cache.size >= this.cacheSize) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(token, principal);
    return principal;
  }

  private async verifyUncached(token: string): Promise<Principal> {
    if (token.length > MAX_TOKEN_LENGTH) throw this.refuse('The access token is too long.');
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw this.refuse('The access token is not a JWT.');
    }
    if (typeof header.alg !== 'string' || !ALGORITHMS.includes(header.alg)) {
      throw this.refuse(`The access token's algorithm ${JSON.stringify(String(header.alg)).slice(0, 20)} is not accepted.`);
    }
    if (typeof header.kid !== 'string') throw this.refuse('The access token names no signing key.');
    const key = await this.keys.publicKey(header.kid);
    if (!key) throw this.refuse('The access token was signed by an unknown key.');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: ALGORITHMS,
        issuer: this.config.issuerUrl,
        audience: this.audience,
        typ: 'at+jwt',
        clockTolerance: this.clockTolerance,
        requiredClaims: ['exp', 'iat', 'jti', 'sub', 'client_id', 'scope'],
      }));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw this.refuse('The access token has expired.');
      if (error instanceof joseErrors.JWTClaimValidationFailed)
        throw this.refuse(`The access token is not valid here: ${error.reason} ${error.claim}.`);
      if (error instanceof joseErrors.JOSEError) throw this.refuse('The access token signature does not verify.');
      throw error;
    }
    const principal = this.toPrincipal(payload);
    if (!principal) throw this.refuse('The access token lacks claims this server needs.');
    if (principal.expiresAt - (payload.iat ?? 0) > ACCESS_TOKEN_TTL_SECONDS + 60) throw this.refuse('The access token lives too long.');
    if (this.refused(principal)) throw this.refuse('The access token was revoked.');
    return principal;
  }

  private toPrincipal(payload: JWTPayload): Principal | undefined {
    const sub = payload.sub ?? '';
    const [kind, id] = sub.split(':', 2) as [string, string | undefined];
    if ((kind !== 'user' && kind !== 'service') || !id || !UUID.test(id)) return undefined;
    const clientId = str(payload, 'client_id');
    const organizationId = str(payload, 'org');
    const environmentId = str(payload, 'env');
    const scope = str(payload, 'scope');
    const grantId = str(payload, 'grant_id');
    if (!clientId || !organizationId || !environmentId || !scope || !payload.jti || payload.exp === undefined) return undefined;
    const scopes = scope.split(' ');
    if (!scopes.every(isScope)) return undefined;
    return {
      subject: sub,
      kind,
      clientId,
      subjectName: str(payload, 'name') ?? sub,
      clientName: str(payload, 'client_name') ?? clientId,
      organizationId,
      organization: str(payload, 'org_name') ?? organizationId,
      environmentId,
      environment: str(payload, 'env_name') ?? environmentId,
      scopes: new Set<Scope>(scopes),
      tokenId: payload.jti,
      grantId,
      expiresAt: payload.exp,
    };
  }
}
