import type { Context, Middleware } from 'koa';
import getRawBody from 'raw-body';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { OperationHandler } from '../generated/handlers.js';
import validators from '../generated/validators.cjs';
import type { AppState, KoaOperationHandler } from '../operations/context.js';
import { invalidClient, invalidRequest, OAuthError, oauthJson } from './errors.js';
import { readForm } from './form.js';
import { authorizationServerMetadata, protectedResourceMetadata } from './metadata.js';
import { StaleClientError } from './grants.js';
import type { OAuthServer } from './oauth-server.js';
import { hit, WindowGate } from './rate-limit.js';
import { registerClient } from './clients.js';
import { RegistrationLimit } from './registration-limit.js';
import { resourceUrl } from './tokens.js';

// The OAuth endpoints as Koa handlers (x-handler: koa in specs/openapi.yaml): they answer RFC 6749 bodies,
// HTML pages and redirects, which the typed handlers do not. The process's OAuthServer is `Services.oauth`.

const REGISTRATION_BODY_LIMIT = 64 * 1024;
const TOKEN_WINDOW_SECONDS = 60;
/** Token-endpoint answers that count against TOKEN_LIMIT: a wrong secret, code or refresh token. */
const TOKEN_FAILURES = new Set(['invalid_client', 'invalid_grant', 'unauthorized_client']);

/** Refuses a form that breaks its schema with invalid_request, naming the first problem. */
function checkForm(name: keyof typeof validators, form: Record<string, string>): void {
  const validate = validators[name];
  if (validate(form)) return;
  const first = validate.errors?.[0];
  const where = first?.instancePath
    ? first.instancePath.slice(1)
    : ((first?.params as { missingProperty?: string } | undefined)?.missingProperty ?? 'the form');
  throw invalidRequest(`${where}: ${first?.message ?? 'is invalid'}.`);
}

/** 'Cache-Control: no-store' on every token-bearing answer (RFC 6749 §5.1). */
function sendJson(ctx: Context, status: number, body: unknown): void {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
  ctx.type = 'application/json';
  ctx.body = body;
}

const getAuthorizationServerMetadata: KoaOperationHandler = async (ctx, { oauth }) => {
  const original = new URL(ctx.originalUrl, 'http://x').pathname;
  if (oauth.issuerPath && original === '/.well-known/oauth-authorization-server') {
    throw new AppError(
      'not_found',
      `The issuer has a path: its metadata is at /.well-known/oauth-authorization-server${oauth.issuerPath}.`,
    );
  }
  ctx.set('Cache-Control', 'public, max-age=300');
  ctx.type = 'application/json';
  ctx.body = authorizationServerMetadata(oauth.config);
};

const getJwks: KoaOperationHandler = async (ctx, { oauth }) => {
  ctx.set('Cache-Control', 'public, max-age=60');
  ctx.type = 'application/json';
  ctx.body = oauth.keys.jwks();
};

/** A registration refused on account of the request (not a limit, not an outage): counted as refused. */
function isRefusal(error: unknown): boolean {
  const status = error instanceof OAuthError ? error.status : (error as { status?: unknown }).status;
  return typeof status === 'number' && status >= 400 && status < 500 && status !== 429;
}

const registerClientHandler: KoaOperationHandler = async (ctx, { oauth }) =>
  oauthJson(ctx, async () => {
    const limit = oauth.config.registrationLimit > 0 ? new RegistrationLimit(oauth.db, oauth.config.registrationLimit, ctx.ip) : undefined;
    await limit?.check();
    try {
      await register(ctx, oauth, limit);
    } catch (error) {
      if (limit && isRefusal(error)) await limit.refused();
      throw error;
    }
  });

async function register(ctx: Context, oauth: OAuthServer, limit: RegistrationLimit | undefined): Promise<void> {
  if (!ctx.request.is('application/json'))
    throw new OAuthError('invalid_client_metadata', 'Send the client metadata as application/json.', 415);
  const text = await getRawBody(ctx.req, { limit: REGISTRATION_BODY_LIMIT, length: ctx.request.length, encoding: 'utf8' });
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new OAuthError('invalid_client_metadata', 'The body is not valid JSON.');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new OAuthError('invalid_client_metadata', 'The body must be a JSON object of client metadata.');
  }
  if (!validators.op_registerClient_body_application_json(body)) {
    const first = validators.op_registerClient_body_application_json.errors?.[0];
    throw new OAuthError('invalid_client_metadata', `${first?.instancePath.slice(1) || 'body'} ${first?.message ?? 'is invalid'}.`);
  }
  sendJson(ctx, 201, await registerClient(oauth.db, body, limit));
}

/**
 * TOKEN_LIMIT: failed token requests per client address per minute, counted in Postgres (shared by every
 * process). A request that finds the window full is refused (429 with Retry-After) and a failure counts one
 * hit, so that guessing secrets, codes or refresh tokens is throttled and successful requests never are.
 * The window is read once per request: by the refresh grant's own statement (no round trip of its own), by
 * its own query before the other grants, and, on a request that failed before either, before its answer:
 * a request from a full window is always answered 429, whatever else was wrong with it.
 */
async function limitTokenFailures(ctx: Context, oauth: OAuthServer, work: (gate: WindowGate | undefined) => Promise<void>): Promise<void> {
  const limit = oauth.config.tokenLimit;
  if (limit <= 0) return work(undefined);
  const gate = new WindowGate(
    oauth.db,
    `token:${ctx.ip}`,
    TOKEN_WINDOW_SECONDS,
    limit,
    (window) =>
      new OAuthError(
        'temporarily_unavailable',
        `Too many failed token requests from this address; try again in ${window.retryAfter} s.`,
        429,
        {
          'Retry-After': String(window.retryAfter),
        },
      ),
  );
  try {
    await work(gate);
  } catch (error) {
    if (!gate.checked && error instanceof OAuthError) await gate.check();
    if (error instanceof OAuthError && TOKEN_FAILURES.has(error.error)) await hit(oauth.db, gate.key, TOKEN_WINDOW_SECONDS);
    throw error;
  }
}

const requestToken: KoaOperationHandler = async (ctx, { oauth }) =>
  oauthJson(ctx, async () => {
    await limitTokenFailures(ctx, oauth, (gate) => issueTokens(ctx, oauth, gate));
  });

async function issueTokens(ctx: Context, oauth: OAuthServer, gate: WindowGate | undefined): Promise<void> {
  const form = await readForm(ctx);
  if (form.grant_type === undefined) throw invalidRequest('grant_type is required.');
  if (!['authorization_code', 'refresh_token', 'client_credentials'].includes(form.grant_type)) {
    throw new OAuthError('unsupported_grant_type', `The grant type ${JSON.stringify(form.grant_type.slice(0, 60))} is not supported.`);
  }
  checkForm('op_requestToken_body_application_x_www_form_urlencoded', form);
  if (form.grant_type === 'refresh_token') return sendJson(ctx, 200, await refreshTokens(ctx, oauth, form, gate));
  await gate?.check();
  const { client, authenticated } = await oauth.clients.authenticate(ctx, form);
  const tokens =
    form.grant_type === 'authorization_code'
      ? await oauth.grants.redeemCode(client, form)
      : await oauth.grants.clientCredentials(client, authenticated, form);
  sendJson(ctx, 200, tokens);
}

/**
 * The refresh grant in one round trip: the client record may come from this process's cache, because the
 * grant's statement checks that the record is still the client's (secret, grant types) and does nothing
 * when it is not; then the client is authenticated afresh and the grant tried once more. A client deleted,
 * or changed to refuse refresh tokens, stops refreshing at its next request, on every process; a client
 * allowed again refreshes again at once.
 */
async function refreshTokens(ctx: Context, oauth: OAuthServer, form: Record<string, string>, gate: WindowGate | undefined) {
  const { client } = await oauth.clients.authenticate(ctx, form, { cached: true });
  try {
    return await oauth.grants.refresh(client, form, gate);
  } catch (error) {
    // Nothing was done; a refusal on account of the client is never answered from a cached record either.
    if (!(error instanceof StaleClientError || (error instanceof OAuthError && error.error === 'unauthorized_client'))) throw error;
    oauth.clients.forget(client.id);
    const fresh = await oauth.clients.authenticate(ctx, form);
    return oauth.grants.refresh(fresh.client, form, gate);
  }
}

/** The grant and owner of a token of ours (a refresh token, or an access token this server signed). */
async function describeToken(oauth: OAuthServer, token: string) {
  const refresh = token.length <= 512 ? await oauth.grants.findRefreshToken(token) : undefined;
  if (refresh) return { type: 'refresh_token' as const, refresh };
  try {
    const principal = await oauth.verifier.verify(token);
    return { type: 'access_token' as const, principal };
  } catch (error) {
    if (error instanceof AppError && error.status === 401) return undefined;
    throw error;
  }
}

const revokeToken: KoaOperationHandler = async (ctx, { oauth }) =>
  oauthJson(ctx, async () => {
    const form = await readForm(ctx);
    checkForm('op_revokeToken_body_application_x_www_form_urlencoded', form);
    const { client } = await oauth.clients.authenticate(ctx, form);
    const found = await describeToken(oauth, form.token ?? '');
    // RFC 7009 §2.2: an unknown, expired or foreign token is answered 200 too, and nothing happens.
    let grantId: string | undefined;
    if (found?.type === 'refresh_token' && found.refresh.client_id === client.id) grantId = found.refresh.grant_id;
    if (found?.type === 'access_token' && found.principal.clientId === client.id) {
      const p = found.principal;
      // A user's access token revokes its grant (refresh token included, RFC 7009 §2.1). A service account's
      // grant is the account itself (`admin service-account revoke`): there, only this token is revoked.
      if (p.kind === 'user' && p.grantId) grantId = p.grantId;
      else await oauth.grants.revokeAccessToken(p);
    }
    if (grantId) {
      await oauth.grants.revokeGrant(oauth.db, grantId, 'revoked by the client');
      oauth.verifier.markRevoked(grantId);
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 200;
    ctx.body = '';
  });

const introspectToken: KoaOperationHandler = async (ctx, { oauth }) =>
  oauthJson(ctx, async () => {
    const form = await readForm(ctx);
    checkForm('op_introspectToken_body_application_x_www_form_urlencoded', form);
    const { client, authenticated } = await oauth.clients.authenticate(ctx, form);
    if (!authenticated) throw invalidClient('Introspection is for confidential clients that authenticate.');
    const found = await describeToken(oauth, form.token ?? '');
    if (found?.type === 'access_token' && found.principal.clientId === client.id) {
      const p = found.principal;
      return sendJson(ctx, 200, {
        active: true,
        token_type: 'Bearer',
        scope: [...p.scopes].join(' '),
        client_id: p.clientId,
        sub: p.subject,
        aud: resourceUrl(oauth.config),
        iss: oauth.config.issuerUrl,
        exp: p.expiresAt,
        jti: p.tokenId,
        org: p.organizationId,
        env: p.environmentId,
      });
    }
    const r = found?.type === 'refresh_token' ? found.refresh : undefined;
    if (r && r.client_id === client.id && !r.used_at && !r.revoked_at && r.expires_at.getTime() > Date.now()) {
      return sendJson(ctx, 200, {
        active: true,
        token_type: 'refresh_token',
        scope: r.scopes.join(' '),
        client_id: r.client_id,
        ...(r.user_id ? { sub: `user:${r.user_id}` } : {}),
        iss: oauth.config.issuerUrl,
        iat: Math.floor(r.created_at.getTime() / 1000),
        exp: Math.floor(r.expires_at.getTime() / 1000),
        env: r.environment_id,
      });
    }
    sendJson(ctx, 200, { active: false });
  });

/** Koa handlers of the OAuth operations, for `koaOperationHandlers` in src/operations/index.ts. */
export const oauthKoaHandlers = {
  getAuthorizationServerMetadata,
  getJwks,
  registerClient: registerClientHandler,
  authorize: (async (ctx, { oauth }) => oauth.authorization.get(ctx)) as KoaOperationHandler,
  submitAuthorization: (async (ctx, { oauth }) => oauth.authorization.post(ctx)) as KoaOperationHandler,
  requestToken,
  revokeToken,
  introspectToken,
};

/** Typed handlers of the RFC 9728 documents (they need only the configuration). */
export const getProtectedResourceMetadata: OperationHandler<'getProtectedResourceMetadata'> = async (_request, { config }) => ({
  status: 200,
  body: protectedResourceMetadata(config),
});
export const getProtectedResourceMetadataV1: OperationHandler<'getProtectedResourceMetadataV1'> = async (_request, { config }) => ({
  status: 200,
  body: protectedResourceMetadata(config),
});

/**
 * When ISSUER_URL has a path (`https://app.example.com/auth`), the OAuth endpoints are reached under it
 * (`/auth/oauth/token`), as are the account pages (`/auth/account/apps`), and the metadata at `/.well-known/oauth-authorization-server/auth` (RFC 8414 §3.1):
 * this maps those paths onto the routes of the contract. Mount it before the router.
 */
export function issuerPathRewrite(config: Pick<Config, 'issuerUrl'>): Middleware<AppState> {
  const issuerPath = new URL(config.issuerUrl).pathname.replace(/\/+$/, '');
  const metadataPath = `/.well-known/oauth-authorization-server${issuerPath}`;
  return async (ctx, next) => {
    if (issuerPath) {
      if (ctx.path === metadataPath) ctx.path = '/.well-known/oauth-authorization-server';
      else if (ctx.path.startsWith(`${issuerPath}/oauth/`) || ctx.path.startsWith(`${issuerPath}/account/`))
        ctx.path = ctx.path.slice(issuerPath.length);
    }
    await next();
  };
}
