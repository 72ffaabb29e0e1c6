import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertMatchesContract } from '../../helpers/contract.js';
import { startOAuthApp } from '../../helpers/oauth.js';
import { oauth4webapiFlow, sdkFlow } from './flows.js';

// Layout 1: the issuer is the MCP origin (ISSUER_URL unset).
let app: Awaited<ReturnType<typeof startOAuthApp>>;
before(async () => {
  app = await startOAuthApp();
});
after(async () => {
  await app?.close();
});

describe('discovery on one origin', () => {
  it('publishes RFC 9728 metadata at both well-known URLs, naming the issuer', async () => {
    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/v1']) {
      const response = await fetch(`${app.url}${path}`);
      await assertMatchesContract('GET', path, response);
      const body = (await response.json()) as Record<string, unknown>;
      assert.equal(body.resource, `${app.url}/v1`);
      assert.deepEqual(body.authorization_servers, [app.url]);
      assert.deepEqual(body.scopes_supported, ['read', 'write']);
      assert.deepEqual(body.bearer_methods_supported, ['header']);
    }
  });

  it('publishes RFC 8414 metadata whose issuer and endpoints are on the issuer', async () => {
    const response = await fetch(`${app.url}/.well-known/oauth-authorization-server`);
    await assertMatchesContract('GET', '/.well-known/oauth-authorization-server', response);
    const body = (await response.json()) as Record<string, unknown>;
    assert.equal(body.issuer, app.url);
    assert.equal(body.token_endpoint, `${app.url}/oauth/token`);
    assert.deepEqual(body.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(body.grant_types_supported, ['authorization_code', 'refresh_token', 'client_credentials']);
    assert.deepEqual(body.token_endpoint_auth_methods_supported, ['none', 'client_secret_basic', 'client_secret_post']);
    assert.equal(body.authorization_response_iss_parameter_supported, true);
    assert.equal(body.client_id_metadata_document_supported, true);
  });

  it('publishes the signing keys as a JWK Set without private parts', async () => {
    const response = await fetch(`${app.url}/oauth/jwks.json`);
    await assertMatchesContract('GET', '/oauth/jwks.json', response);
    const { keys } = (await response.json()) as { keys: Record<string, unknown>[] };
    assert.ok(keys.length >= 1);
    for (const key of keys) assert.equal(key.d, undefined);
  });
});

describe('full flow with real clients', () => {
  it('the MCP SDK client discovers, registers, signs in through the pages and calls tools with its token', async () => {
    await sdkFlow(app.url, app.issuer);
  });

  it('the MCP SDK client does the same from a narrowed URL (/v1?tools=sql&read_only=true): same resource and audience', async () => {
    await sdkFlow(app.url, app.issuer, '?tools=sql&read_only=true');
  });

  it('oauth4webapi completes discovery, registration, PKCE, iss check, code exchange and refresh', async () => {
    await oauth4webapiFlow(app.url, app.issuer);
  });
});
