import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ClientMetadataDocuments, isMetadataDocumentUrl } from '../../../src/oauth/client-metadata.js';
import { isNonPublicAddress } from '../../../src/net/non-public-address.js';
import { authorizationUrl, pkce, postForm, startOAuthApp, walkSignInPages } from '../../helpers/oauth.js';

// Client ID Metadata Documents: a local document server (reachable because ALLOW_PRIVATE_NETWORK=1) and the
// SSRF refusals, checked on the fetcher itself where the server's flag would allow them.

const REDIRECT = 'http://127.0.0.1:7777/callback';
let app: Awaited<ReturnType<typeof startOAuthApp>>;
let docs: http.Server;
let base: string;
const hits = new Map<string, number>();

before(async () => {
  docs = http.createServer((req, res) => {
    const path = req.url ?? '';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const self = `${base}${path}`;
    const send = (body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(200, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (path === '/good.json')
      return send({ client_id: self, client_name: 'Doc Client', redirect_uris: [REDIRECT] }, { 'cache-control': 'max-age=60' });
    if (path === '/mismatch.json') return send({ client_id: `${base}/other.json`, redirect_uris: [REDIRECT] });
    if (path === '/secret.json')
      return send({ client_id: self, redirect_uris: [REDIRECT], token_endpoint_auth_method: 'client_secret_basic' });
    if (path === '/redirect.json') {
      res.writeHead(302, { location: `${base}/good.json` });
      return res.end();
    }
    if (path === '/large.json') return send({ client_id: self, redirect_uris: [REDIRECT], padding: 'x'.repeat(70 * 1024) });
    if (path === '/bad-redirect.json') return send({ client_id: self, redirect_uris: ['javascript:alert(1)'] });
    if (path === '/slow.json') return void setTimeout(() => send({ client_id: self, redirect_uris: [REDIRECT] }), 1_500);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => docs.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(docs.address() as AddressInfo).port}`;
  app = await startOAuthApp({ ALLOW_PRIVATE_NETWORK: '1' });
});
after(async () => {
  await app?.close();
  await new Promise((resolve) => docs?.close(resolve));
});

const start = (clientId: string, redirectUri = REDIRECT) =>
  fetch(
    authorizationUrl(app.issuer, {
      response_type: 'code',
      client_id: clientId,
      redirect_uri: redirectUri,
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
    }),
    {
      redirect: 'manual',
    },
  );

describe('client ID metadata documents', () => {
  it('a client identified by its metadata document URL completes the flow', async () => {
    const clientId = `${base}/good.json`;
    const { verifier, challenge } = pkce();
    const back = await walkSignInPages(
      authorizationUrl(app.issuer, {
        response_type: 'code',
        client_id: clientId,
        redirect_uri: REDIRECT,
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }),
    );
    const { status, body } = await postForm(`${app.issuer}/oauth/token`, {
      grant_type: 'authorization_code',
      code: back.searchParams.get('code') ?? '',
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      client_id: clientId,
    });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(hits.get('/good.json'), 1, 'the document was fetched once and then served from the cache (max-age=60)');
  });

  it("shows the document's client name on the sign-in page", async () => {
    const response = await start(`${base}/good.json`);
    assert.match(await response.text(), /Doc Client/);
  });

  for (const [rule, path, pattern] of [
    ['a document whose client_id is not its URL', '/mismatch.json', /client_id/],
    ['a redirect', '/redirect.json', /redirect/],
    ['a document over 64 KiB', '/large.json', /larger than/],
    ['a document asking for a client secret', '/secret.json', /token_endpoint_auth_method/],
    ['a document with a javascript: redirect URI', '/bad-redirect.json', /javascript/],
    ['a missing document', '/missing.json', /HTTP 404/],
  ] as const) {
    it(`refuses ${rule} with an error page`, async () => {
      const response = await start(`${base}${path}`);
      assert.equal(response.status, 400);
      assert.equal(response.headers.get('location'), null);
      assert.match(await response.text(), pattern);
    });
  }

  it('refuses a redirect URI the document does not list, without redirecting', async () => {
    const response = await start(`${base}/good.json`, 'http://127.0.0.1:7777/other');
    assert.equal(response.status, 400);
    assert.equal(response.headers.get('location'), null);
  });

  it('without ALLOW_PRIVATE_NETWORK, loopback and private addresses are refused (names resolved by us)', async () => {
    const documents = new ClientMetadataDocuments({ allowPrivateNetwork: false });
    assert.equal(isMetadataDocumentUrl(`${base}/good.json`, false), false, 'plain http is not a metadata document URL');
    for (const url of [
      'https://127.0.0.1/client.json',
      'https://localhost/client.json',
      'https://[::1]/client.json',
      'https://[::ffff:7f00:1]/c.json',
      'https://169.254.169.254/latest.json',
      'https://10.0.0.1/c.json',
    ]) {
      await assert.rejects(documents.get(url), /private or loopback/, url);
    }
    for (const address of ['192.168.1.1', '172.16.0.1', 'fe80::1', 'fd12::1', '::', '0.0.0.0', '224.0.0.1', '::ffff:10.0.0.1']) {
      assert.equal(isNonPublicAddress(address), true, address);
    }
    for (const address of ['93.184.216.34', '2606:4700:4700::1111']) assert.equal(isNonPublicAddress(address), false, address);
  });

  it('gives up on a document that takes longer than the time limit', async () => {
    const documents = new ClientMetadataDocuments({ allowPrivateNetwork: true, timeoutMs: 300 });
    await assert.rejects(documents.get(`${base}/slow.json`), /within 300 ms/);
  });
});
