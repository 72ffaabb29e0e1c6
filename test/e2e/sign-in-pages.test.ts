import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserTests, launchChromium } from '../helpers/browser.js';
import { authorizationUrl, PASSWORD, pkce, postForm, registerPublicClient, startOAuthApp } from '../helpers/oauth.js';

// The sign-in, environment and consent pages in a real headless Chromium (Debian's package, installed by
// .ci/run): sign in, choose the environment, approve read-only, land on a local redirect receiver with
// code, state and iss; then exchange the code.

const { skip } = browserTests;

let app: Awaited<ReturnType<typeof startOAuthApp>>;
let browser: Browser;
let receiver: http.Server;
let redirectUri: string;
const received: URL[] = [];

before(async () => {
  if (skip) return;
  receiver = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', redirectUri);
    if (url.pathname === '/callback') received.push(url); // not /favicon.ico
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Done</title><p>You can close this window.</p>');
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  redirectUri = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/callback`;
  [app, browser] = await Promise.all([startOAuthApp(), launchChromium()]);
});
after(async () => {
  await browser?.close();
  await app?.close();
  await new Promise((resolve) => (receiver ? receiver.close(resolve) : resolve(undefined)));
});

describe('sign-in pages in Chromium', { skip }, () => {
  it('signs in, chooses the environment, approves read-only and lands on the redirect URI with code, state and iss', async () => {
    const { client_id } = await registerPublicClient(app.issuer, redirectUri, { client_name: 'Browser Test App' });
    const { verifier, challenge } = pkce();
    const context = await browser.newContext();
    const page = await context.newPage();
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });
    await page.goto(
      authorizationUrl(app.issuer, {
        response_type: 'code',
        client_id,
        redirect_uri: redirectUri,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        state: 'browser-state',
        scope: 'read write',
        resource: `${app.url}/v1`,
      }),
    );
    assert.match((await page.textContent('main')) ?? '', /Browser Test App/);
    // The inline style applies: the page's CSP allows it.
    assert.equal(await page.evaluate<string>("getComputedStyle(document.querySelector('main')).borderTopLeftRadius"), '10px');

    await page.fill('input[name="email"]', 'ada@example.com');
    await page.fill('input[name="password"]', PASSWORD);
    await Promise.all([page.waitForURL((url) => url.pathname.endsWith('/oauth/authorize')), page.click('button[type="submit"]')]);
    await page.waitForSelector('select[name="environment"]');
    assert.match((await page.textContent('main')) ?? '', /127\.0\.0\.1/);
    await page.selectOption('select[name="environment"]', 'acme/staging');
    await page.selectOption('select[name="environment"]', 'acme/production');
    await page.check('input[name="read_only"]');
    await Promise.all([page.waitForURL((url) => url.href.startsWith(redirectUri)), page.click('button[name="decision"][value="approve"]')]);

    const landed = received.at(-1);
    assert.ok(landed);
    assert.equal(landed.searchParams.get('state'), 'browser-state');
    assert.equal(landed.searchParams.get('iss'), app.issuer);
    const code = landed.searchParams.get('code');
    assert.ok(code);
    assert.deepEqual(violations, []);
    await context.close();

    const { status, body } = await postForm(`${app.issuer}/oauth/token`, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      code_verifier: verifier,
      client_id,
      resource: `${app.url}/v1`,
    });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.scope, 'read', 'read-only approval of a writer grants read');
  });

  it('the deny button returns the user to the client with error=access_denied', async () => {
    const { client_id } = await registerPublicClient(app.issuer, redirectUri);
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(
      authorizationUrl(app.issuer, {
        response_type: 'code',
        client_id,
        redirect_uri: redirectUri,
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
        state: 'd',
      }),
    );
    await page.fill('input[name="email"]', 'rita@example.com');
    await page.fill('input[name="password"]', PASSWORD);
    await Promise.all([page.waitForSelector('select[name="environment"]'), page.click('button[type="submit"]')]);
    await Promise.all([page.waitForURL((url) => url.href.startsWith(redirectUri)), page.click('button[name="decision"][value="deny"]')]);
    const landed = received.at(-1);
    assert.equal(landed?.searchParams.get('error'), 'access_denied');
    assert.equal(landed?.searchParams.get('state'), 'd');
    await context.close();
  });
});
