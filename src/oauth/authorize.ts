import crypto from 'node:crypto';
import type { Context } from 'koa';
import validators from '../generated/validators.cjs';
import { verifyPassword } from '../db/passwords.js';
import { ClientMetadataError } from './client-metadata.js';
import type { Client } from './clients.js';
import { CODE_CHALLENGE, randomToken, safeEqual } from './crypto.js';
import { OAuthError } from './errors.js';
import { readForm } from './form.js';
import type { OAuthServer } from './oauth-server.js';
import { consentPage, errorPage, noAccessPage, signInPage, type FormContext } from './pages.js';
import type { Scope } from './principal.js';
import { hit, peek } from './rate-limit.js';
import { redirectTarget } from './redirect-uris.js';
import { ALL_SCOPES, intersect, parseScope, roleScopes } from './scopes.js';

// GET /oauth/authorize validates the request and shows the sign-in page; POST /oauth/authorize receives the
// sign-in form, then the environment-and-consent form. Between steps, the request lives in a signed hidden
// input (`request`, HMAC under a key derived from SECRET_KEY, 10 minutes); the browser holds a random HttpOnly
// SameSite=Lax cookie, and each form's CSRF token is an HMAC of the request id, that cookie and the step, so a
// form can only be posted from the browser the page was served to.

const REQUEST_TTL_MS = 10 * 60 * 1000;
const SIGNIN_WINDOW_SECONDS = 15 * 60;

interface PendingRequest {
  v: 1;
  rid: string;
  exp: number;
  step: 'signin' | 'consent';
  client_id: string;
  redirect_uri: string;
  scopes: Scope[];
  state?: string;
  challenge: string;
  resource?: string;
  user_id?: string;
  email?: string;
}

/** An error shown as a page (nothing is redirected). */
class PageError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
  ) {
    super(message);
  }
}

export class AuthorizationEndpoint {
  private readonly stateKey: Buffer;
  private readonly csrfKey: Buffer;
  private readonly cookieName: string;
  private readonly secure: boolean;
  private dummyHash: Promise<string> | undefined;

  constructor(private readonly oauth: OAuthServer) {
    this.stateKey = oauth.deriveKey('oauth-authorization-state');
    this.csrfKey = oauth.deriveKey('oauth-csrf');
    this.secure = oauth.config.issuerUrl.startsWith('https:');
    // __Host-: only over https, for this host, path / (cookie prefixes, RFC 6265bis §4.1.3.2).
    this.cookieName = this.secure ? '__Host-lakehouse_authz' : 'lakehouse_authz';
  }

  private get action(): string {
    return `${this.oauth.config.issuerUrl}/oauth/authorize`;
  }

  private sign(pending: PendingRequest): string {
    const payload = Buffer.from(JSON.stringify(pending)).toString('base64url');
    const mac = crypto.createHmac('sha256', this.stateKey).update(payload).digest('base64url');
    return `${payload}.${mac}`;
  }

  private open(signed: string): PendingRequest | undefined {
    const [payload, mac] = signed.split('.');
    if (!payload || !mac) return undefined;
    const expected = crypto.createHmac('sha256', this.stateKey).update(payload).digest('base64url');
    if (!safeEqual(mac, expected)) return undefined;
    try {
      const pending = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as PendingRequest;
      return pending.v === 1 && pending.exp > Date.now() ? pending : undefined;
    } catch {
      return undefined;
    }
  }

  private csrfFor(rid: string, nonce: string, step: PendingRequest['step']): string {
    return crypto.createHmac('sha256', this.csrfKey).update(`${rid}\n${nonce}\n${step}`).digest('base64url');
  }

  private browserNonce(ctx: Context): string | undefined {
    const header = ctx.get('cookie');
    for (const part of header.split(';')) {
      const [name, ...rest] = part.trim().split('=');
      if (name === this.cookieName) {
        const value = rest.join('=');
        return /^[A-Za-z0-9_-]{43}$/.test(value) ? value : undefined;
      }
    }
    return undefined;
  }

  private ensureNonce(ctx: Context): string {
    const existing = this.browserNonce(ctx);
    const nonce = existing ?? randomToken(32);
    ctx.append('Set-Cookie', `${this.cookieName}=${nonce}; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax${this.secure ? '; Secure' : ''}`);
    return nonce;
  }

  private page(ctx: Context, status: number, html: string, redirectUri?: string): void {
    const formAction = ["'self'"];
    if (redirectUri) formAction.push(redirectTarget(redirectUri).cspSource);
    ctx.status = status;
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
    ctx.set('X-Frame-Options', 'DENY');
    // The pages' own policy (replacing the app's): their inline style, forms to us, and the client's redirect
    // origin, since browsers apply form-action to the redirect that follows a form post.
    ctx.set(
      'Content-Security-Policy',
      `default-src 'none'; style-src 'unsafe-inline'; form-action ${formAction.join(' ')}; frame-ancestors 'none'; base-uri 'none'`,
    );
    ctx.body = html;
  }

  private redirect(ctx: Context, redirectUri: string, params: Record<string, string | undefined>): void {
    const url = new URL(redirectUri);
    for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, value);
    url.searchParams.set('iss', this.oauth.config.issuerUrl);
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 302;
    ctx.redirect(url.href);
  }

  private formContext(pending: PendingRequest, client: Client, nonce: string): FormContext {
    return {
      action: this.action,
      request: this.sign(pending),
      csrf: this.csrfFor(pending.rid, nonce, pending.step),
      clientName: client.name,
      redirectHost: redirectTarget(pending.redirect_uri).display,
    };
  }

  private async findClient(clientId: string): Promise<Client> {
    let client: Client | undefined;
    try {
      client = await this.oauth.clients.find(clientId);
    } catch (error) {
      if (error instanceof ClientMetadataError)
        throw new PageError(400, 'Unknown application', `The application's metadata document cannot be used: ${error.message}.`);
      throw error;
    }
    if (!client) throw new PageError(400, 'Unknown application', 'This sign-in link names an application this server does not know.');
    return client;
  }

  /** GET /oauth/authorize */
  async get(ctx: Context): Promise<void> {
    try {
      await this.start(ctx);
    } catch (error) {
      if (error instanceof PageError) return this.page(ctx, error.status, errorPage(error.title, error.message));
      throw error;
    }
  }

  private async start(ctx: Context): Promise<void> {
    const params = new URLSearchParams(ctx.querystring);
    const single = (name: string): string | undefined => {
      const values = params.getAll(name);
      if (values.length > 1) throw new OAuthError('invalid_request', `The parameter ${name} is repeated.`);
      return values[0];
    };
    // Client and redirect URI first: until both are known good, errors are pages, never redirects.
    let clientId: string | undefined;
    let requestedRedirect: string | undefined;
    try {
      clientId = single('client_id');
      requestedRedirect = single('redirect_uri');
    } catch {
      throw new PageError(400, 'Invalid request', 'client_id and redirect_uri must each be sent once.');
    }
    if (!clientId) throw new PageError(400, 'Invalid request', 'The request has no client_id.');
    const client = await this.findClient(clientId);
    if (client.redirectUris.length === 0)
      throw new PageError(400, 'Invalid request', 'This client cannot sign users in (it has no redirect URI).');
    let redirectUri: string;
    if (requestedRedirect === undefined) {
      if (client.redirectUris.length !== 1)
        throw new PageError(400, 'Invalid request', 'The request has no redirect_uri, and the application registered several.');
      redirectUri = client.redirectUris[0] ?? '';
    } else {
      // Exact string comparison (RFC 9700 §4.1.3): no trailing-slash, case, port or query leniency.
      if (!client.redirectUris.includes(requestedRedirect)) {
        throw new PageError(
          400,
          'Invalid redirect',
          'The redirect_uri of this request is not registered for this application; you were not sent anywhere.',
        );
      }
      redirectUri = requestedRedirect;
    }

    let state: string | undefined;
    try {
      state = single('state');
      if (state !== undefined && state.length > 2048) throw new OAuthError('invalid_request', 'state is longer than 2048 characters.');
      if (single('response_type') !== 'code') throw new OAuthError('unsupported_response_type', 'response_type must be code.');
      if (!client.grantTypes.includes('authorization_code'))
        throw new OAuthError('unauthorized_client', 'This client may not use the authorization code flow.');
      const challenge = single('code_challenge');
      const method = single('code_challenge_method');
      if (!challenge) throw new OAuthError('invalid_request', 'code_challenge is required: this server requires PKCE with S256.');
      if (method !== 'S256') throw new OAuthError('invalid_request', 'code_challenge_method must be S256 (plain is not accepted).');
      if (!CODE_CHALLENGE.test(challenge))
        throw new OAuthError('invalid_request', 'code_challenge must be the base64url SHA-256 of the verifier (43 characters).');
      const resource = single('resource');
      this.oauth.grants.checkResource(resource);
      const requested = parseScope(single('scope')) ?? parseScope(client.scope ?? undefined) ?? [...ALL_SCOPES];
      const allowed = client.scope ? intersect(requested, parseScope(client.scope) ?? []) : requested;
      if (allowed.length === 0) throw new OAuthError('invalid_scope', 'No scope this client may have was requested.');
      const nonce = this.ensureNonce(ctx);
      const pending: PendingRequest = {
        v: 1,
        rid: randomToken(12),
        exp: Date.now() + REQUEST_TTL_MS,
        step: 'signin',
        client_id: client.id,
        redirect_uri: redirectUri,
        scopes: allowed,
        challenge,
        ...(state === undefined ? {} : { state }),
        ...(resource === undefined ? {} : { resource }),
      };
      this.page(ctx, 200, signInPage(this.formContext(pending, client, nonce)), redirectUri);
    } catch (error) {
      if (error instanceof OAuthError)
        return this.redirect(ctx, redirectUri, { error: error.error, error_description: error.description, state });
      throw error;
    }
  }

  /** POST /oauth/authorize */
  async post(ctx: Context): Promise<void> {
    try {
      await this.submit(ctx);
    } catch (error) {
      if (error instanceof PageError) return this.page(ctx, error.status, errorPage(error.title, error.message));
      if (error instanceof OAuthError) {
        const status = error.status === 415 || error.status === 413 ? error.status : 400;
        return this.page(ctx, status, errorPage('Invalid request', error.description));
      }
      const status = (error as { status?: unknown }).status;
      if (typeof status === 'number' && status >= 400 && status < 500)
        return this.page(ctx, status === 413 ? 413 : 400, errorPage('Invalid request', 'The form could not be read.'));
      throw error;
    }
  }

  private async submit(ctx: Context): Promise<void> {
    const form = await readForm(ctx);
    const validate = validators.op_submitAuthorization_body_application_x_www_form_urlencoded;
    const csrfMissing = !form.csrf_token;
    if (!validate(form)) {
      throw new PageError(
        csrfMissing ? 403 : 400,
        csrfMissing ? 'Request refused' : 'Invalid request',
        csrfMissing ? 'The form has no CSRF token; reload the page from your application.' : 'The form does not have the expected fields.',
      );
    }
    const pending = form.request ? this.open(form.request) : undefined;
    if (!pending)
      throw new PageError(
        400,
        'Sign-in expired',
        'This sign-in request is invalid or older than 10 minutes. Start again from your application.',
      );
    const nonce = this.browserNonce(ctx);
    if (!nonce || !form.csrf_token || !safeEqual(form.csrf_token, this.csrfFor(pending.rid, nonce, pending.step))) {
      throw new PageError(403, 'Request refused', "The form's CSRF token does not match this browser. Start again from your application.");
    }
    const client = await this.findClient(pending.client_id);
    if (!client.redirectUris.includes(pending.redirect_uri))
      throw new PageError(400, 'Invalid redirect', 'The redirect URI is no longer registered for this application.');
    if (form.decision === 'deny') {
      return this.redirect(ctx, pending.redirect_uri, {
        error: 'access_denied',
        error_description: 'The user denied access.',
        state: pending.state,
      });
    }
    if (pending.step === 'signin') return this.signIn(ctx, pending, client, nonce, form);
    return this.consent(ctx, pending, client, nonce, form);
  }

  private async signIn(ctx: Context, pending: PendingRequest, client: Client, nonce: string, form: Record<string, string>): Promise<void> {
    const email = (form.email ?? '').trim();
    const password = form.password ?? '';
    const retry = (status: number, error: string) =>
      this.page(ctx, status, signInPage({ ...this.formContext(pending, client, nonce), email, error }), pending.redirect_uri);
    if (!email || !password) return retry(200, 'Enter your email and password.');
    const { db, config } = this.oauth;
    const limitKey = `signin:${email.toLowerCase()}`;
    if (config.signinLimit > 0) {
      const window = await peek(db, limitKey, SIGNIN_WINDOW_SECONDS);
      if (window.hits >= config.signinLimit) {
        ctx.set('Retry-After', String(window.retryAfter));
        return retry(429, `Too many failed sign-ins for this account. Try again in ${Math.ceil(window.retryAfter / 60)} minutes.`);
      }
    }
    const user = await db
      .selectFrom('users')
      .select(['id', 'email', 'password_hash'])
      .where((eb) => eb.fn<string>('lower', ['email']), '=', email.toLowerCase())
      .executeTakeFirst();
    // An unknown email costs one argon2 verification too, so it answers like a wrong password.
    this.dummyHash ??= import('../db/passwords.js').then((p) => p.hashPassword(randomToken(16)));
    const ok = await verifyPassword(user?.password_hash ?? (await this.dummyHash), password);
    if (!user || !ok) {
      if (config.signinLimit > 0) await hit(db, limitKey, SIGNIN_WINDOW_SECONDS);
      return retry(200, 'The email or password is wrong.');
    }
    const next: PendingRequest = { ...pending, step: 'consent', user_id: user.id, email: user.email, exp: Date.now() + REQUEST_TTL_MS };
    return this.showConsent(ctx, next, client, nonce);
  }

  private async memberships(userId: string) {
    return this.oauth.db
      .selectFrom('memberships as m')
      .innerJoin('environments as e', 'e.id', 'm.environment_id')
      .innerJoin('organizations as o', 'o.id', 'e.organization_id')
      .select(['m.role', 'e.id as environment_id', 'e.name as environment', 'o.name as organization'])
      .where('m.user_id', '=', userId)
      .orderBy('o.name')
      .orderBy('e.name')
      .execute();
  }

  private async showConsent(ctx: Context, pending: PendingRequest, client: Client, nonce: string, error?: string): Promise<void> {
    const memberships = await this.memberships(pending.user_id ?? '');
    const f = this.formContext(pending, client, nonce);
    if (memberships.length === 0) return this.page(ctx, 200, noAccessPage({ ...f, email: pending.email ?? '' }), pending.redirect_uri);
    const environments = memberships.map((m) => ({ value: `${m.organization}/${m.environment}`, role: m.role }));
    this.page(
      ctx,
      200,
      consentPage({ ...f, email: pending.email ?? '', scopes: pending.scopes, environments, ...(error ? { error } : {}) }),
      pending.redirect_uri,
    );
  }

  private async consent(ctx: Context, pending: PendingRequest, client: Client, nonce: string, form: Record<string, string>): Promise<void> {
    if (!pending.user_id) throw new PageError(400, 'Sign-in expired', 'Sign in first. Start again from your application.');
    if (form.decision !== 'approve') return this.showConsent(ctx, pending, client, nonce, 'Choose Allow or Deny.');
    const memberships = await this.memberships(pending.user_id);
    const chosen = memberships.find((m) => `${m.organization}/${m.environment}` === form.environment);
    if (!chosen) return this.showConsent(ctx, pending, client, nonce, 'Choose one of your environments.');
    const readOnly = form.read_only !== undefined && form.read_only !== '';
    const approved: Scope[] = readOnly ? ['read'] : [...ALL_SCOPES];
    const scopes = intersect(pending.scopes, roleScopes(chosen.role), approved);
    if (scopes.length === 0) {
      return this.redirect(ctx, pending.redirect_uri, {
        error: 'invalid_scope',
        error_description: `Your role in ${form.environment} does not allow the requested scope.`,
        state: pending.state,
      });
    }
    const code = await this.oauth.grants.createCode({
      requestId: pending.rid,
      clientId: client.id,
      redirectUri: pending.redirect_uri,
      codeChallenge: pending.challenge,
      resource: pending.resource,
      userId: pending.user_id,
      environmentId: chosen.environment_id,
      scopes,
    });
    // A second post of this consent form (a double click, a replay): the first one's code stands, and is the only one.
    if (!code) {
      throw new PageError(
        400,
        'Already answered',
        `This sign-in was already approved and its code sent to ${client.name}. If ${client.name} did not receive it, start again from ${client.name}.`,
      );
    }
    this.redirect(ctx, pending.redirect_uri, { code, state: pending.state });
  }
}
