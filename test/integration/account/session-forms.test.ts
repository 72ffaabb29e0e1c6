import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createServiceAccount } from '../../../src/oauth/admin.js';
import { addMember, createUser } from '../../../src/db/directory.js';
import { authorizationUrl, PASSWORD, pkce, registerPublicClient, startOAuthApp, userTokens } from '../../helpers/oauth.js';
import { Browser, parseForm } from '../../helpers/sign-in-forms.js';

// The account pages over plain HTTP: every form refused without the right CSRF token (a page, nothing
// changed), the session's cookie over https, open redirects, and what an environment admin may revoke.

let app: Awaited<ReturnType<typeof startOAuthApp>>;
before(async () => {
  app = await startOAuthApp();
  await createUser(app.database.db, 'adele@example.com', PASSWORD);
  await addMember(app.database.db, 'adele@example.com', { organization: 'acme', environment: 'production' }, 'admin');
});
after(async () => {
  await app?.close();
});

/** A cookie-keeping browser signed in at /account/sign-in. */
async function signedIn(email = 'ada@example.com', next?: string): Promise<{ browser: Browser; landed: Response }> {
  const browser = new Browser();
  const page = await browser.request(`${app.issuer}/account/sign-in${next === undefined ? '' : `?next=${encodeURIComponent(next)}`}`);
  const form = parseForm(await page.text(), app.issuer);
  const landed = await browser.post(form.action, { ...form.hidden, email, password: PASSWORD });
  assert.equal(landed.status, 303, await landed.text());
  return { browser, landed };
}

/** The hidden fields of the forms of the connected-apps page, by their button's action. */
async function appsPage(browser: Browser): Promise<{ html: string; csrf: (action: string) => string }> {
  const response = await browser.request(`${app.issuer}/account/apps`);
  const html = await response.text();
  assert.equal(response.status, 200, html);
  return {
    html,
    csrf: (action) => {
      const at = html.indexOf(`action="${app.issuer}${action}"`);
      assert.ok(at >= 0, action);
      return /name="csrf_token" value="([^"]+)"/.exec(html.slice(at))?.[1] ?? '';
    },
  };
}

const liveGrants = (clientId: string) =>
  app.database.db.selectFrom('oauth_grants').select('id').where('client_id', '=', clientId).where('revoked_at', 'is', null).execute();

describe('CSRF on the account forms', () => {
  it('sign-in without the nonce cookie, or with a wrong token, is refused with a page and signs no one in', async () => {
    const browser = new Browser();
    const page = await browser.request(`${app.issuer}/account/sign-in`);
    const form = parseForm(await page.text(), app.issuer);
    for (const [fields, forget] of [
      [{ ...form.hidden, csrf_token: 'x'.repeat(43) }, false],
      [{ ...form.hidden }, true],
      [{ next: '/account/apps' }, false],
    ] as const) {
      if (forget) browser.forgetCookies();
      const response = await browser.post(form.action, { ...fields, email: 'ada@example.com', password: PASSWORD });
      const html = await response.text();
      assert.equal(response.status, 403, html);
      assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(html, /CSRF token/);
      assert.equal(response.headers.getSetCookie().filter((c) => c.startsWith('lakehouse_session=')).length, 0);
    }
  });

  it('sign-out without the right token is refused and the session goes on; with it, the session ends', async () => {
    await userTokens(app); // an app on the page, so that it has a Revoke form (whose token is the wrong one here)
    const { browser } = await signedIn();
    const { csrf } = await appsPage(browser);
    for (const token of [undefined, 'wrong', csrf('/account/apps/revoke')]) {
      const response = await browser.post(`${app.issuer}/account/sign-out`, token === undefined ? {} : { csrf_token: token });
      assert.equal(response.status, 403, await response.text());
    }
    await appsPage(browser);
    const out = await browser.post(`${app.issuer}/account/sign-out`, { csrf_token: csrf('/account/sign-out') });
    assert.equal(out.status, 200);
    assert.ok(out.headers.getSetCookie().some((c) => /^lakehouse_session=; .*Max-Age=0/.test(c)));
    const after = await browser.request(`${app.issuer}/account/apps`);
    assert.equal(after.status, 303);
  });

  it('revoke without the right token is refused and revokes nothing', async () => {
    const tokens = await userTokens(app);
    const { browser } = await signedIn();
    const { csrf } = await appsPage(browser);
    const fields = { client_id: tokens.clientId, environment: 'acme/production', target: 'own' };
    for (const token of [undefined, 'wrong', csrf('/account/sign-out')]) {
      const response = await browser.post(
        `${app.issuer}/account/apps/revoke`,
        token === undefined ? fields : { ...fields, csrf_token: token },
      );
      const html = await response.text();
      assert.equal(response.status, 403, html);
      assert.match(html, /CSRF token/);
    }
    const stranger = new Browser();
    const foreign = await stranger.post(`${app.issuer}/account/apps/revoke`, { ...fields, csrf_token: csrf('/account/apps/revoke') });
    assert.equal(foreign.status, 403, 'a token without the session that made it');
    assert.equal((await liveGrants(tokens.clientId)).length, 1, 'nothing revoked');
    const done = await browser.post(`${app.issuer}/account/apps/revoke`, { ...fields, csrf_token: csrf('/account/apps/revoke') });
    assert.equal(done.status, 303);
    assert.equal((await liveGrants(tokens.clientId)).length, 0);
  });

  it('a consent form posted after sign-out is refused: consent belongs to the session that signed in', async () => {
    const browser = new Browser();
    const { client_id } = await registerPublicClient(app.issuer, 'https://client.example.com/cb');
    const page = await browser.request(
      authorizationUrl(app.issuer, {
        response_type: 'code',
        client_id,
        redirect_uri: 'https://client.example.com/cb',
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
      }),
    );
    const signIn = parseForm(await page.text(), app.issuer);
    const consent = await browser.post(signIn.action, { ...signIn.hidden, email: 'ada@example.com', password: PASSWORD });
    const consentForm = parseForm(await consent.text(), app.issuer);
    const { csrf } = await appsPage(browser);
    assert.equal((await browser.post(`${app.issuer}/account/sign-out`, { csrf_token: csrf('/account/sign-out') })).status, 200);
    const refused = await browser.post(consentForm.action, { ...consentForm.hidden, environment: 'acme/production', decision: 'approve' });
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get('location'), null);
    assert.match(await refused.text(), /signed out/i);
  });
});

describe('hostile input on the account forms', () => {
  it('another content type, an oversized body or a repeated field gets a page, never a crash', async () => {
    const { browser } = await signedIn();
    const cases: Array<[RequestInit, number]> = [
      [{ headers: { 'content-type': 'application/json' }, body: '{"csrf_token":"x"}' }, 415],
      [{ headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `csrf_token=${'x'.repeat(70_000)}` }, 413],
      [{ headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'csrf_token=a&csrf_token=b' }, 400],
      [{ headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'csrf_token=a&extra=1' }, 400],
    ];
    for (const path of ['/account/sign-out', '/account/apps/revoke', '/account/sign-in']) {
      for (const [init, status] of cases) {
        const response = await browser.request(`${app.issuer}${path}`, { method: 'POST', ...init });
        const html = await response.text();
        assert.equal(response.status, status, `${path}: ${html}`);
        assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
        assert.match(html, /<h1>/);
      }
    }
    assert.equal((await browser.request(`${app.issuer}/account/apps`)).status, 200, 'still signed in');
  });
});

describe('the account pages', () => {
  it('return to a local next only, never to another host', async () => {
    for (const [next, expected] of [
      ['/account/apps?x=1', '/account/apps?x=1'],
      ['//evil.example/x', '/account/apps'],
      ['/\\evil.example', '/account/apps'],
      ['https://evil.example/', '/account/apps'],
    ] as const) {
      const { landed } = await signedIn('ada@example.com', next);
      const location = new URL(landed.headers.get('location') ?? '');
      assert.equal(location.origin, new URL(app.issuer).origin, next);
      assert.equal(`${location.pathname}${location.search}`, expected, next);
    }
  });

  it('an environment admin sees and revokes the apps and service accounts of their environment; a writer cannot', async () => {
    const tokens = await userTokens(app);
    const account = await createServiceAccount(app.database.db, { organization: 'acme', environment: 'production' }, 'nightly', ['read']);
    const { browser: writer } = await signedIn('ada@example.com');
    const writerPage = await appsPage(writer);
    assert.doesNotMatch(writerPage.html, /nightly/, 'a writer does not see service accounts');
    const fields = { client_id: tokens.clientId, environment: 'acme/production', target: 'environment' };
    const refused = await writer.post(`${app.issuer}/account/apps/revoke`, {
      ...fields,
      csrf_token: writerPage.csrf('/account/apps/revoke'),
    });
    assert.equal(refused.status, 403);
    assert.match(await refused.text(), /Only an admin/);
    assert.equal((await liveGrants(tokens.clientId)).length, 1);

    const { browser: admin } = await signedIn('adele@example.com');
    const adminPage = await appsPage(admin);
    assert.match(adminPage.html, /data-environment="acme\/production"/);
    assert.match(adminPage.html, new RegExp(`data-client-id="${tokens.clientId}"`));
    assert.match(adminPage.html, /nightly/);
    const csrf = adminPage.csrf('/account/apps/revoke');
    assert.equal((await admin.post(`${app.issuer}/account/apps/revoke`, { ...fields, csrf_token: csrf })).status, 303);
    assert.equal((await liveGrants(tokens.clientId)).length, 0);
    const sa = { client_id: account.client_id, environment: 'acme/production', target: 'service_account', csrf_token: csrf };
    assert.equal((await admin.post(`${app.issuer}/account/apps/revoke`, sa)).status, 303);
    const row = await app.database.db
      .selectFrom('service_accounts')
      .select('revoked_at')
      .where('client_id', '=', account.client_id)
      .executeTakeFirstOrThrow();
    assert.ok(row.revoked_at);
  });

  it('record when an app last came for tokens: at the code exchange and at each refresh', async () => {
    const tokens = await userTokens(app);
    const before = await app.database.db
      .selectFrom('oauth_grants')
      .select(['id', 'created_at', 'last_used_at'])
      .where('client_id', '=', tokens.clientId)
      .executeTakeFirstOrThrow();
    await app.database.db
      .updateTable('oauth_grants')
      .set({ last_used_at: new Date(Date.now() - 3_600_000) })
      .where('id', '=', before.id)
      .execute();
    const refreshed = await fetch(`${app.issuer}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refreshToken, client_id: tokens.clientId }),
    });
    assert.equal(refreshed.status, 200);
    const after = await app.database.db
      .selectFrom('oauth_grants')
      .select('last_used_at')
      .where('id', '=', before.id)
      .executeTakeFirstOrThrow();
    assert.ok(Date.now() - after.last_used_at.getTime() < 60_000, 'touched by the refresh');
  });
});

describe('the session cookie over https', () => {
  it('is __Host-lakehouse_session with Secure, HttpOnly, SameSite=Lax, Path=/ and no Domain', async () => {
    const secure = await startOAuthApp({ PUBLIC_URL: 'https://mcp.example.com' });
    try {
      // Reached directly over http; the server names its cookies after its https issuer.
      const base = `http://127.0.0.1:${secure.server.port}`;
      const page = await fetch(`${base}/account/sign-in`);
      const html = await page.text();
      const nonce = page.headers.getSetCookie().find((c) => c.startsWith('__Host-lakehouse_authz='));
      assert.ok(nonce, page.headers.getSetCookie().join('\n'));
      const csrf = /name="csrf_token" value="([^"]+)"/.exec(html)?.[1] ?? '';
      const signed = await fetch(`${base}/account/sign-in`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: nonce.split(';')[0] ?? '' },
        body: new URLSearchParams({ csrf_token: csrf, email: 'ada@example.com', password: PASSWORD }),
      });
      assert.equal(signed.status, 303, await signed.text());
      const cookie = signed.headers.getSetCookie().find((c) => c.startsWith('__Host-lakehouse_session=')) ?? '';
      assert.match(cookie, /^__Host-lakehouse_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=43200; HttpOnly; SameSite=Lax; Secure$/);
      assert.equal(signed.headers.get('location'), 'https://mcp.example.com/account/apps');
    } finally {
      await secure.close();
    }
  });
});
