import crypto from 'node:crypto';
import { Browser, parseForm } from '../../test/helpers/sign-in-forms.js';

// The HTTP side of OAuth for the benchmark: client_credentials, and one authorization-code flow (register a
// public client, walk the sign-in pages as a person would, redeem the code) per refresh-token chain. The
// pages are read and posted with the tests' own form helpers (test/helpers/sign-in-forms.ts, which stands alone).

export async function clientCredentialsToken(baseUrl: string, clientId: string, clientSecret: string): Promise<string> {
  const response = await fetch(`${baseUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(clientId, clientSecret) },
    body: 'grant_type=client_credentials',
  });
  const body = (await response.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`client_credentials failed: ${response.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

export const basicAuth = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

const REDIRECT_URI = 'http://127.0.0.1:9/callback';

export interface BenchUser {
  email: string;
  password: string;
  /** `org/env` */
  environment: string;
}

/** `count` refresh tokens of a user, each of its own grant, for one new public client. */
export async function userRefreshTokens(
  baseUrl: string,
  user: BenchUser,
  count: number,
): Promise<{ clientId: string; refreshTokens: string[] }> {
  const registered = await fetch(`${baseUrl}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'bench', redirect_uris: [REDIRECT_URI] }),
  });
  const { client_id: clientId } = (await registered.json()) as { client_id: string };
  const refreshTokens = await Promise.all(Array.from({ length: count }, () => userRefreshToken(baseUrl, user, clientId)));
  return { clientId, refreshTokens };
}

/** One authorization-code flow through the sign-in pages: a new grant, answered as its refresh token. */
async function userRefreshToken(baseUrl: string, user: BenchUser, clientId: string): Promise<string> {
  const redirectUri = REDIRECT_URI;
  const verifier = crypto.randomBytes(32).toString('base64url');
  const authorize = new URL(`${baseUrl}/oauth/authorize`);
  for (const [name, value] of Object.entries({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    code_challenge: crypto.createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state: 'bench',
    scope: 'read',
    resource: `${baseUrl}/v1`,
  })) {
    authorize.searchParams.set(name, value);
  }
  const browser = new Browser();
  const page = await browser.request(authorize.href);
  const signIn = parseForm(await page.text(), authorize.href);
  const consent = await browser.post(signIn.action, { ...signIn.hidden, email: user.email, password: user.password });
  const form = parseForm(await consent.text(), signIn.action);
  const done = await browser.post(form.action, { ...form.hidden, environment: user.environment, decision: 'approve' });
  const code = new URL(done.headers.get('location') ?? 'x:').searchParams.get('code');
  if (!code) throw new Error(`the sign-in pages did not end with a code (${done.status})`);
  const token = await fetch(`${baseUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      code_verifier: verifier,
      client_id: clientId,
      resource: `${baseUrl}/v1`,
    }).toString(),
  });
  const body = (await token.json()) as { refresh_token?: string };
  if (!body.refresh_token) throw new Error(`authorization_code failed: ${token.status} ${JSON.stringify(body)}`);
  return body.refresh_token;
}
