import crypto from 'node:crypto';
import type { Context } from 'koa';
import validators from '../generated/validators.cjs';
import { BrowserCookies } from './browser-cookies.js';
import type { BrowserSession } from './browser-session.js';
import { ClientMetadataError } from './client-metadata.js';
import type { Client } from './clients.js';
import { CODE_CHALLENGE, randomToken, safeEqual } from './crypto.js';
import { sendHtmlPage } from './html-response.js';
import { OAuthError } from './errors.js';
import { readForm } from './form.js';
import type { OAuthServer } from './oauth-server.js';
import { consentPage, errorPage, noAccessPage, signInPage, type FormContext } from './pages.js';
import type { Scope } from './principal.js';
import { redirectTarget } from './redirect-uris.js';
import { ALL_SCOPES, intersect, parseScope, roleScopes } from './scopes.js';

// GET /oauth/authorize validates the request and shows the sign-in page, or, to a browser with a live session
// (src/oauth/browser-session.ts), the environment-and-consent page at once; POST /oauth/authorize receives the
// sign-in form (which starts the browser session), then the environment-and-consent form. Between steps, the
// request lives in a signed hidden input (`request`, HMAC under a key derived from SECRET_KEY, 10 minutes).
// Each form's CSRF token is an HMAC of the request id, the step and what binds it to this browser: before
// sign-in a random HttpOnly SameSite=Lax cookie (`lakehouse_authz`), after it the session id; so a form can
// only be posted from the browser the page was served to, and consent only by the session that signed in.

const REQUEST_TTL_MS = 10 * 60 * 1000;
const NONCE_COOKIE = 'lakehouse_authz';

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
  private readonly cookies: BrowserCookies;

  constructor(private readonly oauth: OAuthServer) {
    this.stateKey = oauth.deriveKey('oauth-authorization-state');
    this.csrfKey = oauth.deriveKey('oauth-csrf');
    this.cookies = new BrowserCookies(oauth.config.issuerUrl);
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

  /** `binding`: the browser nonce cookie (sign-in step) or the session id (consent step). */
  private csrfFor(rid: string, binding: string, step: PendingRequest['step']): string {
    return crypto.createHmac('sha256', this.csrfKey).update(`${rid}\n${binding}\n${step}`).digest('base64url');
  }

  /** The random cookie that binds the sign-in form to this browser (login CSRF), set when missing. */
  ensureNonce(ctx: Context): string {
    const nonce = this.cookies.read(ctx, NONCE_COOKIE) ?? randomToken(32);
    this.cookies.set(ctx, NONCE_COOKIE, nonce, 3600);
    return nonce;
  }

  /** The nonce cookie this browser sent, if any. */
  browserNonce(ctx: Context): string | undefined {
    return this.cookies.read(ctx, NONCE_COOKIE);
  }

  private page(ctx: Context, status: number, html: string, redirectUri?: string): void {
    sendHtmlPage(ctx, status, html, redirectUri ? [redirectTarget(redirectUri).cspSource] : []);
  }

  private redirect(ctx: Context, redirectUri: string, params: Record<string, string | undefined>): void {
    const url = new URL(redirectUri);
    for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, value);
    url.searchParams.set('iss', this.oauth.config.issuerUrl);
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 302;
    ctx.redirect(url.href);
  }

  private formContext(pending: PendingRequest, client: Client, binding: string): FormContext {
    return {
      action: this.action,
      request: this.sign(pending),
      csrf: this.csrfFor(pending.rid, binding, pending.step),
      clientName: client.name,
      redirectHost: redirectTarget(pending.redirect_uri).display,
      accountUrl: `${this.oauth.config.issuerUrl}/account/apps`,
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
      // Signed in already: no password again, but the environment and consent are asked every time.
      const session = await this.oauth.sessions.current(ctx);
      if (session) {
        const next: PendingRequest = { ...pending, step: 'consent', user_id: session.userId, email: session.email };
        return await this.showConsent(ctx, next, client, session);
      }
      this.page(ctx, 200, signInPage(this.formContext(pending, client, this.ensureNonce(ctx))), redirectUri);
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
    // Before sign-in the form is bound to the nonce cookie; after it, to the session that signed in.
    let binding: string | undefined;
    let session: BrowserSession | undefined;
    if (pending.step === 'signin') binding = this.browserNonce(ctx);
    else {
      session = await this.oauth.sessions.current(ctx);
      if (session && session.userId === pending.user_id) binding = session.id;
      else if (form.csrf_token)
        throw new PageError(
          403,
          'Signed out',
          'You were signed out (or signed in as someone else) since this page was shown. Start again from your application.',
        );
    }
    if (!binding || !form.csrf_token || !safeEqual(form.csrf_token, this.csrfFor(pending.rid, binding, pending.step))) {
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
    if (pending.step === 'signin') return this.signIn(ctx, pending, client, binding, form);
    if (!session) throw new PageError(403, 'Signed out', 'Sign in first. Start again from your application.');
    return this.consent(ctx, pending, client, session, form);
  }

  private async signIn(ctx: Context, pending: PendingRequest, client: Client, nonce: string, form: Record<string, string>): Promise<void> {
    const outcome = await this.oauth.signIns.check(form.email, form.password);
    if (!outcome.ok) {
      if (outcome.retryAfter !== undefined) ctx.set('Retry-After', String(outcome.retryAfter));
      const email = (form.email ?? '').trim();
      const page = signInPage({ ...this.formContext(pending, client, nonce), email, error: outcome.error });
      return this.page(ctx, outcome.status, page, pending.redirect_uri);
    }
    // A new session id at every sign-in (the browser's previous session ends): nothing set before sign-in survives it.
    const session = await this.oauth.sessions.start(ctx, outcome.user);
    const next: PendingRequest = {
      ...pending,
      step: 'consent',
      user_id: outcome.user.id,
      email: outcome.user.email,
      exp: Date.now() + REQUEST_TTL_MS,
    };
    return this.showConsent(ctx, next, client, session);
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

  private async showConsent(ctx: Context, pending: PendingRequest, client: Client, session: BrowserSession, error?: string): Promise<void> {
    const memberships = await this.memberships(pending.user_id ?? '');
    const f = this.formContext(pending, client, session.id);
    if (memberships.length === 0) return this.page(ctx, 200, noAccessPage({ ...f, email: pending.email ?? '' }), pending.redirect_uri);
    const environments = memberships.map((m) => ({ value: `${m.organization}/${m.environment}`, role: m.role }));
    this.page(
      ctx,
      200,
      consentPage({ ...f, email: pending.email ?? '', scopes: pending.scopes, environments, ...(error ? { error } : {}) }),
      pending.redirect_uri,
    );
  }

  private async consent(
    ctx: Context,
    pending: PendingRequest,
    client: Client,
    session: BrowserSession,
    form: Record<string, string>,
  ): Promise<void> {
    if (!pending.user_id) throw new PageError(400, 'Sign-in expired', 'Sign in first. Start again from your application.');
    if (form.decision !== 'approve') return this.showConsent(ctx, pending, client, session, 'Choose Allow or Deny.');
    const memberships = await this.memberships(pending.user_id);
    const chosen = memberships.find((m) => `${m.organization}/${m.environment}` === form.environment);
    if (!chosen) return this.showConsent(ctx, pending, client, session, 'Choose one of your environments.');
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
