import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addMember, createUser } from '../../../src/db/directory.js';
import { authorizationUrl, PASSWORD, pkce, postForm, registerPublicClient, startOAuthApp, walkSignInPages } from '../../helpers/oauth.js';
import { Browser, parseForm } from '../../helpers/sign-in-forms.js';

// /oauth/authorize: what is checked before anything is redirected, PKCE, resource, the sign-in pages and
// their CSRF protection. One server (SIGNIN_LIMIT 3) for the whole file.

const REDIRECT = 'https://client.example.com/cb';
let app: Awaited<ReturnType<typeof startOAuthApp>>;
let clientId: string;
let challenge: string;
before(async () => {
  app = await startOAuthApp({ SIGNIN_LIMIT: '3' });
  ({ client_id: clientId } = await registerPublicClient(app.issuer, REDIRECT));
  ({ challenge } = pkce());
});
after(async () => {
  await app?.close();
});

const params = (overrides: Record<string, string | undefined> = {}) => ({
  response_type: 'code',
  client_id: clientId,
  redirect_uri: REDIRECT,
  code_challenge: challenge,
  code_challenge_method: 'S256',
  state: 's-1',
  ...overrides,
});

async function authorize(overrides: Record<string, string | undefined> = {}): Promise<Response> {
  return fetch(authorizationUrl(app.issuer, params(overrides)), { redirect: 'manual' });
}

/** The error a redirect to the client carries (with state and iss). */
async function redirectedError(response: Response): Promise<URLSearchParams> {
  assert.equal(response.status, 302, await response.text());
  const location = new URL(response.headers.get('location') ?? '');
  assert.equal(`${location.origin}${location.pathname}`, REDIRECT);
  assert.equal(location.searchParams.get('iss'), app.issuer);
  assert.equal(location.searchParams.get('state'), 's-1');
  return location.searchParams;
}

async function errorPage(response: Response): Promise<string> {
  assert.equal(response.status, 400);
  assert.equal(response.headers.get('location'), null);
  assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
  return response.text();
}

describe('redirect URI mismatches never redirect', () => {
  for (const [rule, uri] of [
    ['trailing slash', 'https://client.example.com/cb/'],
    ['case', 'https://client.example.com/CB'],
    ['host case', 'https://CLIENT.example.com/cb'],
    ['extra query', 'https://client.example.com/cb?x=1'],
    ['userinfo', 'https://evil@client.example.com/cb'],
    ['other port', 'https://client.example.com:8443/cb'],
    ['other scheme', 'http://client.example.com/cb'],
    ['fragment', 'https://client.example.com/cb#x'],
  ] as const) {
    it(`a redirect_uri differing by ${rule} gets an error page`, async () => {
      const html = await errorPage(await authorize({ redirect_uri: uri }));
      assert.match(html, /not registered/);
    });
  }

  it('an unknown client gets an error page', async () => {
    await errorPage(await authorize({ client_id: 'no-such-client' }));
  });

  it('a missing client_id gets an error page', async () => {
    await errorPage(await authorize({ client_id: undefined }));
  });

  it('a repeated redirect_uri gets an error page', async () => {
    const url = `${authorizationUrl(app.issuer, params())}&redirect_uri=${encodeURIComponent('https://evil.example/cb')}`;
    await errorPage(await fetch(url, { redirect: 'manual' }));
  });
});

describe('PKCE and parameters, once the redirect URI is known good', () => {
  it('refuses a missing code_challenge with invalid_request', async () => {
    const error = await redirectedError(await authorize({ code_challenge: undefined, code_challenge_method: undefined }));
    assert.equal(error.get('error'), 'invalid_request');
  });

  it('refuses code_challenge_method plain', async () => {
    const error = await redirectedError(await authorize({ code_challenge_method: 'plain' }));
    assert.equal(error.get('error'), 'invalid_request');
  });

  it('refuses a challenge without a method (plain by default)', async () => {
    const error = await redirectedError(await authorize({ code_challenge_method: undefined }));
    assert.equal(error.get('error'), 'invalid_request');
  });

  it('refuses a response_type other than code', async () => {
    const error = await redirectedError(await authorize({ response_type: 'token' }));
    assert.equal(error.get('error'), 'unsupported_response_type');
  });

  it('refuses a resource other than the MCP resource with invalid_target', async () => {
    const error = await redirectedError(await authorize({ resource: 'https://other.example.com/v1' }));
    assert.equal(error.get('error'), 'invalid_target');
  });

  it('refuses an unknown scope with invalid_scope', async () => {
    const error = await redirectedError(await authorize({ scope: 'read admin' }));
    assert.equal(error.get('error'), 'invalid_scope');
  });

  it('refuses a repeated parameter with invalid_request', async () => {
    const url = `${authorizationUrl(app.issuer, params())}&scope=read&scope=write`;
    const error = await redirectedError(await fetch(url, { redirect: 'manual' }));
    assert.equal(error.get('error'), 'invalid_request');
  });
});

describe('the sign-in pages', () => {
  it('serve one form with a CSRF token, the client name, its redirect host and a page CSP', async () => {
    const browser = new Browser();
    const response = await browser.request(authorizationUrl(app.issuer, params({ resource: `${app.url}/v1` })));
    const html = await response.text();
    assert.equal(response.status, 200);
    assert.match(html, /Test Client/);
    assert.match(html, /client\.example\.com/);
    const form = parseForm(html, app.issuer);
    assert.ok(Object.keys(form.hidden).some((n) => n.includes('csrf')));
    const csp = response.headers.get('content-security-policy') ?? '';
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /style-src 'unsafe-inline'/);
    assert.match(csp, /form-action 'self' https:\/\/client\.example\.com/);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    const cookie = response.headers.getSetCookie().join('\n');
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Lax/);
  });

  it('escape what the client chose (its name) in the page', async () => {
    const { client_id } = await registerPublicClient(app.issuer, REDIRECT, { client_name: '<script>alert(1)</script>' });
    const response = await fetch(authorizationUrl(app.issuer, params({ client_id })));
    const html = await response.text();
    assert.doesNotMatch(html, /<script>/);
    assert.match(html, /&#60;script&#62;/);
  });

  it('pass state through and end in code, state and iss', async () => {
    const back = await walkSignInPages(authorizationUrl(app.issuer, params()));
    assert.ok(back.searchParams.get('code'));
    assert.equal(back.searchParams.get('state'), 's-1');
    assert.equal(back.searchParams.get('iss'), app.issuer);
  });

  it('deny ends in error=access_denied at the redirect URI', async () => {
    const back = await walkSignInPages(authorizationUrl(app.issuer, params()), { decision: 'deny' });
    assert.equal(back.searchParams.get('error'), 'access_denied');
    assert.equal(back.searchParams.get('state'), 's-1');
    assert.equal(back.searchParams.get('code'), null);
  });

  it('consent without the CSRF token is refused with 403', async () => {
    const browser = new Browser();
    const page = await browser.request(authorizationUrl(app.issuer, params()));
    const form = parseForm(await page.text(), app.issuer);
    const { csrf_token: _csrf, ...withoutCsrf } = form.hidden;
    const response = await browser.post(form.action, { ...withoutCsrf, email: 'ada@example.com', password: PASSWORD });
    assert.equal(response.status, 403);
    assert.equal(response.headers.get('location'), null);
  });

  it('a form posted from another browser (no cookie) is refused with 403', async () => {
    const browser = new Browser();
    const page = await browser.request(authorizationUrl(app.issuer, params()));
    const form = parseForm(await page.text(), app.issuer);
    const consent = await browser.post(form.action, { ...form.hidden, email: 'ada@example.com', password: PASSWORD });
    const consentForm = parseForm(await consent.text(), app.issuer);
    browser.forgetCookies();
    const response = await browser.post(consentForm.action, { ...consentForm.hidden, environment: 'acme/production', decision: 'approve' });
    assert.equal(response.status, 403);
  });

  it('a consent form posted twice yields one code: the second post gets an error page, the first code still works', async () => {
    const browser = new Browser();
    const { verifier, challenge: c } = pkce();
    const page = await browser.request(authorizationUrl(app.issuer, params({ code_challenge: c })));
    const signIn = parseForm(await page.text(), app.issuer);
    const consent = await browser.post(signIn.action, { ...signIn.hidden, email: 'ada@example.com', password: PASSWORD });
    const form = parseForm(await consent.text(), app.issuer);
    const fields = { ...form.hidden, environment: 'acme/production', decision: 'approve' };
    const first = await browser.post(form.action, fields);
    assert.equal(first.status, 302);
    const code = new URL(first.headers.get('location') ?? '').searchParams.get('code');
    assert.ok(code);
    const second = await browser.post(form.action, fields);
    const html = await second.text();
    assert.equal(second.status, 400, html);
    assert.equal(second.headers.get('location'), null);
    assert.match(html, /already approved/);
    const codes = await app.database.db
      .selectFrom('oauth_authorization_codes')
      .select('code_hash')
      .where('code_challenge', '=', c)
      .execute();
    assert.equal(codes.length, 1, 'one code for one authorization request');
    const exchanged = await postForm(`${app.issuer}/oauth/token`, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      client_id: clientId,
    });
    assert.equal(exchanged.status, 200, JSON.stringify(exchanged.body));
  });

  it('a tampered request state is refused', async () => {
    const browser = new Browser();
    const page = await browser.request(authorizationUrl(app.issuer, params()));
    const form = parseForm(await page.text(), app.issuer);
    const [payload = '', mac = ''] = (form.hidden.request ?? '').split('.');
    const state = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    state.redirect_uri = 'https://evil.example/cb';
    const forged = `${Buffer.from(JSON.stringify(state)).toString('base64url')}.${mac}`;
    const response = await browser.post(form.action, { ...form.hidden, request: forged, email: 'ada@example.com', password: PASSWORD });
    assert.equal(response.status, 400);
    assert.equal(response.headers.get('location'), null);
  });

  it('offers only the environments the user is a member of', async () => {
    const browser = new Browser();
    const page = await browser.request(authorizationUrl(app.issuer, params()));
    const form = parseForm(await page.text(), app.issuer);
    const consent = await browser.post(form.action, { ...form.hidden, email: 'ada@example.com', password: PASSWORD });
    const consentForm = parseForm(await consent.text(), app.issuer);
    assert.deepEqual(consentForm.environments, ['acme/production', 'acme/staging']);
    const other = await browser.post(consentForm.action, { ...consentForm.hidden, environment: 'other/production', decision: 'approve' });
    assert.equal(other.status, 200, 'an environment not offered shows the page again');
    assert.match(await other.text(), /Choose one of your environments/);
  });

  it('a user without any membership is told to ask an admin', async () => {
    const browser = new Browser();
    const page = await browser.request(authorizationUrl(app.issuer, params()));
    const form = parseForm(await page.text(), app.issuer);
    const response = await browser.post(form.action, { ...form.hidden, email: 'nina@example.com', password: PASSWORD });
    const html = await response.text();
    assert.equal(response.status, 200);
    assert.match(html, /not a member of any environment/);
    assert.match(html, /administrator/);
  });

  it('an unknown email and a wrong password get the same answer', async () => {
    const answers: string[] = [];
    for (const email of ['nobody@example.com', 'rita@example.com']) {
      const browser = new Browser();
      const page = await browser.request(authorizationUrl(app.issuer, params()));
      const form = parseForm(await page.text(), app.issuer);
      const response = await browser.post(form.action, { ...form.hidden, email, password: 'wrong password 123' });
      const html = await response.text();
      answers.push(`${response.status} ${/class="error"[^>]*>([^<]*)</.exec(html)?.[1] ?? ''}`);
    }
    assert.equal(answers[0], answers[1]);
    assert.match(answers[0] ?? '', /wrong/);
  });

  it('throttles failed sign-ins per account (SIGNIN_LIMIT) with a clear message, even with the right password', async () => {
    await createUser(app.database.db, 'tom@example.com', PASSWORD);
    await addMember(app.database.db, 'tom@example.com', { organization: 'acme', environment: 'production' }, 'writer');
    const attempt = async (password: string) => {
      const browser = new Browser();
      const page = await browser.request(authorizationUrl(app.issuer, params()));
      const form = parseForm(await page.text(), app.issuer);
      return browser.post(form.action, { ...form.hidden, email: 'Tom@Example.com', password });
    };
    for (let i = 0; i < 3; i++) assert.equal((await attempt('wrong password 123')).status, 200);
    const blocked = await attempt(PASSWORD);
    assert.equal(blocked.status, 429);
    assert.match(await blocked.text(), /Too many failed sign-ins/);
    assert.ok(Number(blocked.headers.get('retry-after')) > 0);
    // Another account is not affected.
    const back = await walkSignInPages(authorizationUrl(app.issuer, params()), { email: 'rita@example.com' });
    assert.ok(back.searchParams.get('code'));
  });
});

describe('scopes granted', () => {
  const exchange = async (overrides: Record<string, string | undefined>, walk: Parameters<typeof walkSignInPages>[1]) => {
    const { verifier, challenge: c } = pkce();
    const back = await walkSignInPages(authorizationUrl(app.issuer, params({ code_challenge: c, ...overrides })), walk);
    const { body } = await postForm(`${app.issuer}/oauth/token`, {
      grant_type: 'authorization_code',
      code: back.searchParams.get('code') ?? '',
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      client_id: clientId,
    });
    return body.scope;
  };

  it('requested ∩ role: a reader asking for read write gets read', async () => {
    assert.equal(await exchange({ scope: 'read write' }, { email: 'rita@example.com' }), 'read');
  });

  it('requested ∩ approval: a writer approving read only gets read', async () => {
    assert.equal(await exchange({ scope: 'read write' }, { readOnly: true }), 'read');
  });

  it('without a scope parameter a writer gets read write', async () => {
    assert.equal(await exchange({}, {}), 'read write');
  });

  it('a reader asking only for write is refused with invalid_scope', async () => {
    const back = await walkSignInPages(authorizationUrl(app.issuer, params({ scope: 'write' })), { email: 'rita@example.com' }).catch(
      (error: unknown) => error,
    );
    assert.ok(back instanceof URL);
    assert.equal(back.searchParams.get('error'), 'invalid_scope');
  });
});
