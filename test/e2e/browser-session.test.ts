import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { removeMember } from '../../src/oauth/admin.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { browserTests, launchChromium } from '../helpers/browser.js';
import { testLakehouseEnv } from '../helpers/db.js';
import {
  authorizationUrl,
  eventually,
  mcpCall,
  PASSWORD,
  pkce,
  postForm,
  registerPublicClient,
  startOAuthApp,
  TEST_SECRET_KEY,
} from '../helpers/oauth.js';

// The browser session and the connected-apps page in a real headless Chromium: the cookie's attributes as the
// browser stored them, a new id at sign-in (fixation), expiry (idle and absolute, by editing the stored times),
// sign-out, a removed membership, a second authorization without the password, and revoking an app from the
// page (its token stops on another server process within 5 s).

const { skip } = browserTests;
const SESSION = 'lakehouse_session';

let app: Awaited<ReturnType<typeof startOAuthApp>>;
let second: RunningServer;
let browser: Browser;
let receiver: http.Server;
let redirectUri: string;
const received: URL[] = [];

before(async () => {
  if (skip) return;
  receiver = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', redirectUri);
    if (url.pathname === '/callback') received.push(url);
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Done</title><p>Done.</p>');
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  redirectUri = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/callback`;
  [app, browser] = await Promise.all([startOAuthApp(), launchChromium()]);
  // A second process of the same deployment (same database, SECRET_KEY and PUBLIC_URL), as behind a load balancer.
  second = await startServer({
    PATH: process.env.PATH,
    PORT: '0',
    LOG_LEVEL: 'silent',
    DATABASE_URL: app.database.url,
    SECRET_KEY: TEST_SECRET_KEY,
    PUBLIC_URL: app.url,
    ...testLakehouseEnv(),
  });
});
after(async () => {
  await browser?.close();
  await second?.close();
  await app?.close();
  await new Promise((resolve) => (receiver ? receiver.close(resolve) : resolve(undefined)));
});

async function sessionCookie(context: BrowserContext) {
  return (await context.cookies(app.url)).find((c) => c.name === SESSION);
}

async function signIn(page: Page, email = 'ada@example.com'): Promise<void> {
  await page.goto(`${app.url}/account/apps`);
  assert.match(new URL(page.url()).pathname, /\/account\/sign-in$/, 'not signed in: sent to the sign-in page');
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', PASSWORD);
  await Promise.all([page.waitForURL((url) => url.pathname === '/account/apps'), page.click('button[type="submit"]')]);
}

/** Runs an authorization in the page (signing in when asked) and answers the client's tokens. */
async function authorize(page: Page, clientId: string, opts: { expectPassword: boolean }) {
  const { verifier, challenge } = pkce();
  await page.goto(
    authorizationUrl(app.issuer, {
      response_type: 'code',
      client_id: clientId,
      redirect_uri: redirectUri,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 'st',
      resource: `${app.url}/v1`,
    }),
  );
  assert.equal(await page.isVisible('input[name="password"]'), opts.expectPassword);
  if (opts.expectPassword) {
    await page.fill('input[name="email"]', 'ada@example.com');
    await page.fill('input[name="password"]', PASSWORD);
    await Promise.all([page.waitForSelector('select[name="environment"]'), page.click('button[type="submit"]')]);
  }
  await page.selectOption('select[name="environment"]', 'acme/production');
  await Promise.all([page.waitForURL((url) => url.href.startsWith(redirectUri)), page.click('button[name="decision"][value="approve"]')]);
  const code = received.at(-1)?.searchParams.get('code');
  assert.ok(code);
  const { status, body } = await postForm(`${app.issuer}/oauth/token`, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: redirectUri,
    code_verifier: verifier,
    client_id: clientId,
    resource: `${app.url}/v1`,
  });
  assert.equal(status, 200, JSON.stringify(body));
  return body as { access_token: string; refresh_token: string };
}

const works = async (token: string) => {
  const response = await mcpCall(app.url, token, 'tools/list');
  await response.body?.cancel();
  return response.status === 200;
};

describe('the browser session in Chromium', { skip }, () => {
  it('is an HttpOnly, SameSite=Lax, host-only cookie of at most 12 hours, with a new id at sign-in (no fixation)', async () => {
    const context = await browser.newContext();
    // An id planted before sign-in (fixation): the browser sends it, and it is never the one after.
    const planted = 'A'.repeat(43);
    await context.addCookies([{ name: SESSION, value: planted, url: app.url }]);
    const page = await context.newPage();
    await signIn(page);
    const cookie = await sessionCookie(context);
    assert.ok(cookie);
    assert.notEqual(cookie.value, planted);
    assert.match(cookie.value, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Lax');
    assert.equal(cookie.path, '/');
    assert.equal(cookie.domain, 'localhost', 'host-only: no Domain attribute');
    // http://localhost: the plain name without Secure (https origins get __Host- and Secure: see the HTTP tests).
    assert.equal(cookie.secure, false);
    const hours = (cookie.expires * 1000 - Date.now()) / 3_600_000;
    assert.ok(hours > 11.9 && hours <= 12, `expires in ${hours} h`);
    assert.equal(await page.evaluate('document.cookie'), '', 'script cannot read it');

    // Signing in again in the same browser: another new id, and the previous one ends.
    const first = cookie.value;
    await page.goto(`${app.url}/account/sign-in`);
    assert.equal(new URL(page.url()).pathname, '/account/apps', 'signed in already: straight to the page');
    await context.clearCookies({ name: SESSION });
    await page.goto(`${app.url}/account/sign-in`);
    await page.fill('input[name="email"]', 'ada@example.com');
    await page.fill('input[name="password"]', PASSWORD);
    await context.addCookies([{ name: SESSION, value: first, url: app.url }]);
    await Promise.all([page.waitForURL((url) => url.pathname === '/account/apps'), page.click('button[type="submit"]')]);
    const next = await sessionCookie(context);
    assert.ok(next && next.value !== first);
    const stale = await fetch(`${app.url}/account/apps`, { headers: { cookie: `${SESSION}=${first}` }, redirect: 'manual' });
    assert.equal(stale.status, 303, 'the session the browser had before signing in again has ended');
    await context.close();
  });

  it('ends after an hour idle and after 12 hours whatever the activity (stored times edited)', async () => {
    for (const edit of [
      { last_seen_at: new Date(Date.now() - 61 * 60_000) },
      { created_at: new Date(Date.now() - 13 * 3_600_000), expires_at: new Date(Date.now() - 3_600_000) },
    ]) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await signIn(page);
      const { user_id } = await app.database.db
        .selectFrom('browser_sessions')
        .select('user_id')
        .orderBy('created_at', 'desc')
        .executeTakeFirstOrThrow();
      assert.equal(user_id, app.directory.ada.id);
      await page.reload();
      assert.equal(new URL(page.url()).pathname, '/account/apps', 'still signed in');
      await app.database.db.updateTable('browser_sessions').set(edit).where('user_id', '=', user_id).execute();
      await page.goto(`${app.url}/account/apps`);
      assert.equal(new URL(page.url()).pathname, '/account/sign-in', JSON.stringify(edit));
      assert.equal(new URL(page.url()).searchParams.get('next'), '/account/apps');
      await context.close();
    }
  });

  it('a second authorization skips the password but asks for the environment and consent again', async () => {
    const { client_id } = await registerPublicClient(app.issuer, redirectUri, { client_name: 'Twice App' });
    const context = await browser.newContext();
    const page = await context.newPage();
    await authorize(page, client_id, { expectPassword: true });
    assert.ok(await sessionCookie(context), 'signing in through the OAuth pages starts the session');
    await authorize(page, client_id, { expectPassword: false });
    await context.close();
  });

  it('sign-out ends the session: the page sends the browser to sign in again', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page);
    const id = (await sessionCookie(context))?.value;
    await Promise.all([page.waitForURL((url) => url.pathname === '/account/sign-out'), page.click('text=Sign out')]);
    assert.match((await page.textContent('main')) ?? '', /signed out/i);
    assert.equal(await sessionCookie(context), undefined, 'the cookie is deleted');
    await page.goto(`${app.url}/account/apps`);
    assert.equal(new URL(page.url()).pathname, '/account/sign-in');
    const replayed = await fetch(`${app.url}/account/apps`, { headers: { cookie: `${SESSION}=${id}` }, redirect: 'manual' });
    assert.equal(replayed.status, 303, 'the old id is refused on the server too');
    await context.close();
  });

  it('removing the membership ends the session on every process', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, 'rita@example.com');
    const id = (await sessionCookie(context))?.value;
    const onSecond = () =>
      fetch(`http://localhost:${second.port}/account/apps`, { headers: { cookie: `${SESSION}=${id}` }, redirect: 'manual' });
    assert.equal((await onSecond()).status, 200, 'the other process knows the session');
    await removeMember(app.database.db, 'rita@example.com', { organization: 'acme', environment: 'production' });
    await page.reload();
    assert.equal(new URL(page.url()).pathname, '/account/sign-in');
    assert.equal((await onSecond()).status, 303);
    await context.close();
  });
});

describe('the connected-apps page in Chromium', { skip }, () => {
  it('lists an app after an OAuth flow (name, redirect host, scopes, dates) and its Revoke button stops the token on another process within 5 s', async () => {
    const { client_id } = await registerPublicClient(app.issuer, redirectUri, { client_name: 'Revocable App' });
    const context = await browser.newContext();
    const page = await context.newPage();
    const tokens = await authorize(page, client_id, { expectPassword: true });
    const verifyOnSecond = () =>
      second.oauth.verifier.verify(tokens.access_token).then(
        () => true,
        () => false,
      );
    assert.equal(await verifyOnSecond(), true, 'the other process accepts (and caches) the token');

    await page.goto(`${app.url}/account/apps`);
    const row = page.locator(`#my-apps tr[data-client-id="${client_id}"]`);
    const text = (await row.textContent()) ?? '';
    assert.match(text, /Revocable App/);
    assert.match(text, /127\.0\.0\.1/);
    assert.match(text, /acme\/production/);
    assert.match(text, /read write/);
    assert.equal((text.match(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/g) ?? []).length, 2, 'authorized and last used');

    await Promise.all([page.waitForURL((url) => url.searchParams.get('notice') === 'revoked'), row.locator('button').click()]);
    assert.match((await page.textContent('main')) ?? '', /Revoked/);
    assert.equal(await page.locator(`#my-apps tr[data-client-id="${client_id}"]`).count(), 0, 'gone from the list');
    assert.equal(await works(tokens.access_token), false, 'refused at once by the process that revoked it');
    const took = await eventually(async () => !(await verifyOnSecond()), 5_000, 50);
    assert.ok(took < 5_000, `took ${took} ms`);
    const refreshed = await postForm(`${app.issuer}/oauth/token`, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
      client_id,
    });
    assert.equal(refreshed.body.error, 'invalid_grant', 'its refresh token is dead too');
    await context.close();
  });
});
