import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Kysely } from 'kysely';
import { addMember, createEnvironment, createOrganization, createUser } from '../../src/db/directory.js';
import type { Database } from '../../src/db/schema.js';
import { assertMatchesContract } from './contract.js';
import { startTestApp, type TestApp } from './app.js';
import { Browser, parseForm } from './sign-in-forms.js';

// Helpers for the OAuth tests: a directory to sign in to, PKCE, walking the sign-in pages over plain HTTP
// (with the form reader and cookie-keeping Browser of sign-in-forms.ts), and the token endpoint calls.

export const PASSWORD = 'a sturdy passphrase 42';
/** A fixed SECRET_KEY for test servers (so they never write one into the repository's .data). */
export const TEST_SECRET_KEY = Buffer.alloc(32, 7).toString('base64');

export interface Directory {
  /** writer in acme/production, reader in acme/staging */
  ada: { id: string; email: string };
  /** reader in acme/production only */
  rita: { id: string; email: string };
  /** no membership at all */
  nina: { id: string; email: string };
  production: { id: string; organizationId: string };
  staging: { id: string; organizationId: string };
}

export async function createDirectory(db: Kysely<Database>): Promise<Directory> {
  const org = await createOrganization(db, 'acme');
  const production = await createEnvironment(db, { organization: 'acme', environment: 'production' });
  const staging = await createEnvironment(db, { organization: 'acme', environment: 'staging' });
  const [ada, rita, nina] = await Promise.all([
    createUser(db, 'ada@example.com', PASSWORD),
    createUser(db, 'rita@example.com', PASSWORD),
    createUser(db, 'nina@example.com', PASSWORD),
  ]);
  await addMember(db, ada.email, { organization: 'acme', environment: 'production' }, 'writer');
  await addMember(db, ada.email, { organization: 'acme', environment: 'staging' }, 'reader');
  await addMember(db, rita.email, { organization: 'acme', environment: 'production' }, 'reader');
  return {
    ada,
    rita,
    nina,
    production: { id: production.id, organizationId: org.id },
    staging: { id: staging.id, organizationId: org.id },
  };
}

/** The test server with a fixed SECRET_KEY and a directory. */
export async function startOAuthApp(env: Record<string, string> = {}): Promise<TestApp & { directory: Directory; issuer: string }> {
  const app = await startTestApp({ SECRET_KEY: TEST_SECRET_KEY, REGISTRATION_LIMIT: '0', SIGNIN_LIMIT: '0', ...env });
  const directory = await createDirectory(app.database.db);
  return Object.assign(app, { directory, issuer: app.server.config.issuerUrl });
}

/** A free TCP port (for servers whose ISSUER_URL must name their port before they start). */
export async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = crypto.randomBytes(32).toString('base64url');
  return { verifier, challenge: crypto.createHash('sha256').update(verifier).digest('base64url') };
}

export interface WalkOptions {
  email?: string;
  password?: string;
  environment?: string;
  readOnly?: boolean;
  decision?: 'approve' | 'deny';
}

/**
 * Opens the authorization URL, signs in, chooses the environment and decides, as a person would. Answers the
 * final redirect (to the client's redirect URI).
 */
export async function walkSignInPages(authorizationUrl: string, options: WalkOptions = {}, browser = new Browser()): Promise<URL> {
  const page = await browser.request(authorizationUrl);
  const html = await page.text();
  assert.equal(page.status, 200, html);
  const signIn = parseForm(html, authorizationUrl);
  assert.ok(signIn.fields.includes('email') && signIn.fields.includes('password'));
  assert.ok(Object.keys(signIn.hidden).some((name) => name.includes('csrf')));
  const consent = await browser.post(signIn.action, {
    ...signIn.hidden,
    email: options.email ?? 'ada@example.com',
    password: options.password ?? PASSWORD,
  });
  const consentHtml = await consent.text();
  assert.equal(consent.status, 200, consentHtml);
  const form = parseForm(consentHtml, signIn.action);
  assert.ok(form.fields.includes('environment') && form.fields.includes('read_only') && form.fields.includes('decision'), consentHtml);
  const fields: Record<string, string> = {
    ...form.hidden,
    environment: options.environment ?? 'acme/production',
    decision: options.decision ?? 'approve',
  };
  if (options.readOnly) fields.read_only = '1';
  const done = await browser.post(form.action, fields);
  assert.equal(done.status, 302, await done.text());
  return new URL(done.headers.get('location') ?? '');
}

/** POST a form to the token endpoint (or another form endpoint), checked against the contract. */
export async function postForm(
  url: string,
  fields: Record<string, string> | string,
  pathTemplate = '/oauth/token',
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; response: Response }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: typeof fields === 'string' ? fields : new URLSearchParams(fields).toString(),
  });
  await assertMatchesContract('POST', pathTemplate, response);
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, response };
}

export async function registerPublicClient(
  issuer: string,
  redirectUri: string,
  extra: Record<string, unknown> = {},
): Promise<{ client_id: string; client_secret?: string }> {
  const response = await fetch(`${issuer}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'Test Client', redirect_uris: [redirectUri], ...extra }),
  });
  await assertMatchesContract('POST', '/oauth/register', response);
  assert.equal(response.status, 201);
  return (await response.json()) as { client_id: string; client_secret?: string };
}

export function authorizationUrl(issuer: string, params: Record<string, string | undefined>): string {
  const url = new URL(`${issuer}/oauth/authorize`);
  for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, value);
  return url.href;
}

/** A user's tokens for a fresh public client, through the pages. */
export async function userTokens(
  app: { issuer: string; url: string },
  options: WalkOptions & { scope?: string; redirectUri?: string } = {},
): Promise<{ clientId: string; accessToken: string; refreshToken: string; scope: string; redirectUri: string }> {
  const redirectUri = options.redirectUri ?? 'http://127.0.0.1:9/callback';
  const { client_id } = await registerPublicClient(app.issuer, redirectUri);
  const { verifier, challenge } = pkce();
  const back = await walkSignInPages(
    authorizationUrl(app.issuer, {
      response_type: 'code',
      client_id,
      redirect_uri: redirectUri,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 'xyz',
      scope: options.scope,
      resource: `${app.url}/v1`,
    }),
    options,
  );
  const code = back.searchParams.get('code');
  assert.ok(code, back.href);
  const { status, body } = await postForm(`${app.issuer}/oauth/token`, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: redirectUri,
    code_verifier: verifier,
    client_id,
    resource: `${app.url}/v1`,
  });
  assert.equal(status, 200, JSON.stringify(body));
  return {
    clientId: client_id,
    accessToken: body.access_token as string,
    refreshToken: body.refresh_token as string,
    scope: body.scope as string,
    redirectUri,
  };
}

/** One JSON-RPC request to /v1 with a bearer token. */
export async function mcpCall(
  baseUrl: string,
  token: string | undefined,
  method: string,
  params: Record<string, unknown> = {},
  id = 1,
): Promise<Response> {
  return fetch(`${baseUrl}/v1`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
  });
}

/** Polls `check` until it holds or `ms` pass; answers how long it took. */
export async function eventually(check: () => Promise<boolean>, ms = 5_000, step = 100): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (await check()) return Date.now() - started;
    await new Promise((resolve) => setTimeout(resolve, step));
  }
  throw new Error(`not within ${ms} ms`);
}
