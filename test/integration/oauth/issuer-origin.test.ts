import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { assertMatchesContract } from '../../helpers/contract.js';
import { freePort, startOAuthApp, userTokens } from '../../helpers/oauth.js';
import { oauth4webapiFlow, sdkFlow } from './flows.js';

// Layout 2: the issuer is another origin with a path (an "app" host beside the "mcp" host), served by the same
// process: PUBLIC_URL http://localhost:<port>, ISSUER_URL http://127.0.0.1:<port>/auth.
let app: Awaited<ReturnType<typeof startOAuthApp>>;
let issuer: string;
before(async () => {
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}/auth`;
  app = await startOAuthApp({ PORT: String(port), PUBLIC_URL: `http://localhost:${port}`, ISSUER_URL: issuer });
});
after(async () => {
  await app?.close();
});

describe('issuer on another origin with a path', () => {
  it('names the issuer in the protected resource metadata', async () => {
    const response = await fetch(`${app.url}/.well-known/oauth-protected-resource/v1`);
    await assertMatchesContract('GET', '/.well-known/oauth-protected-resource/v1', response);
    const body = (await response.json()) as { resource: string; authorization_servers: string[] };
    assert.equal(body.resource, `${app.url}/v1`);
    assert.deepEqual(body.authorization_servers, [issuer]);
  });

  it('serves RFC 8414 metadata at the path-inserted URL only, with endpoints under the issuer', async () => {
    const origin = new URL(issuer).origin;
    const response = await fetch(`${origin}/.well-known/oauth-authorization-server/auth`);
    await assertMatchesContract('GET', '/.well-known/oauth-authorization-server', response);
    const body = (await response.json()) as Record<string, string>;
    assert.equal(body.issuer, issuer);
    assert.equal(body.authorization_endpoint, `${issuer}/oauth/authorize`);
    assert.equal(body.token_endpoint, `${issuer}/oauth/token`);
    const jwks = await fetch(body.jwks_uri ?? '');
    assert.equal(jwks.status, 200);
    const root = await fetch(`${origin}/.well-known/oauth-authorization-server`);
    await assertMatchesContract('GET', '/.well-known/oauth-authorization-server', root);
    assert.equal(root.status, 404);
  });

  it('issues tokens whose iss is the issuer and whose audience is the MCP resource', async () => {
    const tokens = await userTokens(app);
    const claims = decodeJwt(tokens.accessToken);
    assert.equal(claims.iss, issuer);
    assert.equal(claims.aud, `${app.url}/v1`);
  });

  it('the MCP SDK client completes the flow across the two origins', async () => {
    await sdkFlow(app.url, issuer);
  });

  it('oauth4webapi completes the flow across the two origins', async () => {
    await oauth4webapiFlow(app.url, issuer);
  });
});
