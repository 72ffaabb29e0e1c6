import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { auth, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import * as oauth from 'oauth4webapi';
import { assertMatchesContract } from '../../helpers/contract.js';
import { mcpCall, walkSignInPages, type WalkOptions } from '../../helpers/oauth.js';

// The full flow with two independent real clients, shared by the two server layouts (issuer on the MCP
// origin; issuer on another origin with a path).

/** An OAuthClientProvider whose "browser" walks our sign-in pages over HTTP. */
export class PageWalkingProvider implements OAuthClientProvider {
  information: OAuthClientInformationMixed | undefined;
  saved: OAuthTokens | undefined;
  verifier = '';
  callback: URL | undefined;
  readonly stateValue = 'sdk-state-123';

  constructor(
    readonly redirectUrl: string,
    private readonly walk: WalkOptions = {},
  ) {}

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'MCP SDK test client',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  state() {
    return this.stateValue;
  }
  clientInformation() {
    return this.information;
  }
  saveClientInformation(information: OAuthClientInformationMixed) {
    this.information = information;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  async redirectToAuthorization(url: URL) {
    this.callback = await walkSignInPages(url.href, this.walk);
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/**
 * MCP SDK: discovery from /v1's 401, DCR, pages, code exchange, then an MCP session over the token. With a
 * `query` (`?tools=sql&read_only=true`) the client starts from a narrowed URL: the challenge, the resource and
 * the token's audience are those of `/v1` all the same, and the session sees the narrowed catalogue.
 */
export async function sdkFlow(baseUrl: string, issuer: string, query = ''): Promise<PageWalkingProvider> {
  const serverUrl = `${baseUrl}/v1${query}`;
  // The resource tells a tokenless client where to go.
  const unauthorized = await mcpCall(baseUrl, undefined, 'tools/list');
  assert.equal(unauthorized.status, 401);
  const challenge = unauthorized.headers.get('www-authenticate') ?? '';
  assert.match(challenge, /resource_metadata="[^"]+\/\.well-known\/oauth-protected-resource\/v1"/);
  if (query) {
    const narrowed = await fetch(serverUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    assert.equal(narrowed.status, 401);
    assert.equal(narrowed.headers.get('www-authenticate'), challenge, 'the query string changes nothing of the challenge');
  }

  const provider = new PageWalkingProvider('http://127.0.0.1:53682/callback');
  assert.equal(await auth(provider, { serverUrl }), 'REDIRECT');
  const callback = provider.callback;
  assert.ok(callback);
  assert.equal(callback.searchParams.get('state'), provider.stateValue);
  assert.equal(callback.searchParams.get('iss'), issuer);
  const code = callback.searchParams.get('code');
  assert.ok(code);
  assert.equal(await auth(provider, { serverUrl, authorizationCode: code }), 'AUTHORIZED');
  assert.ok(provider.saved?.access_token);
  assert.ok(provider.saved.refresh_token);
  assert.equal(provider.saved.scope, 'read write');
  const claims = JSON.parse(Buffer.from(provider.saved.access_token.split('.')[1] ?? '', 'base64url').toString()) as { aud: unknown };
  assert.deepEqual([claims.aud].flat(), [`${baseUrl}/v1`], 'the audience is /v1 whatever the URL');

  const client = new Client({ name: 'oauth-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(serverUrl), { authProvider: provider }));
  try {
    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === 'get_session_context'));
    if (query.includes('read_only=true')) assert.ok(!tools.some((t) => t.annotations?.readOnlyHint === false), 'a write tool is listed');
    if (query.includes('tools=sql'))
      assert.ok(tools.every((t) => t.name === 'get_session_context' || /sql|connection|events|lakehouse|query_job/.test(t.name)));
    const result = await client.callTool({ name: 'get_session_context', arguments: {} });
    const context = result.structuredContent as { organization: unknown; environment: unknown; scopes: string[] };
    assert.deepEqual(
      [context.organization, context.environment]
        .map((v) => JSON.stringify(v))
        .join(' ')
        .includes('production'),
      true,
    );
    assert.deepEqual([...context.scopes].sort(), ['read', 'write']);
  } finally {
    await client.close();
  }
  return provider;
}

/** oauth4webapi: RFC 8414 discovery (with path insertion), DCR, PKCE, iss check, code grant, refresh. */
export async function oauth4webapiFlow(baseUrl: string, issuer: string): Promise<void> {
  const insecure = { [oauth.allowInsecureRequests]: true };
  const issuerUrl = new URL(issuer);
  const discovery = await oauth.discoveryRequest(issuerUrl, { algorithm: 'oauth2', ...insecure });
  await assertMatchesContract('GET', '/.well-known/oauth-authorization-server', discovery.clone());
  const as = await oauth.processDiscoveryResponse(issuerUrl, discovery);
  assert.equal(as.issuer, issuer);
  assert.deepEqual(as.code_challenge_methods_supported, ['S256']);

  const redirectUri = 'http://localhost:8976/oauth/callback';
  const registration = await oauth.dynamicClientRegistrationRequest(
    as,
    { redirect_uris: [redirectUri], client_name: 'oauth4webapi', token_endpoint_auth_method: 'client_secret_basic' },
    insecure,
  );
  const client = await oauth.processDynamicClientRegistrationResponse(registration);
  assert.equal(typeof client.client_secret, 'string');
  const clientAuth = oauth.ClientSecretBasic(client.client_secret as string);

  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const url = new URL(as.authorization_endpoint ?? '');
  url.searchParams.set('client_id', client.client_id);
  url.searchParams.set('redirect_uri', redirectUri);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('scope', 'read write');
  url.searchParams.set('state', state);
  url.searchParams.set('resource', `${baseUrl}/v1`);
  url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier));
  url.searchParams.set('code_challenge_method', 'S256');
  const callback = await walkSignInPages(url.href, { readOnly: true });

  // Checks state and the RFC 9207 iss parameter against the discovered issuer.
  const params = oauth.validateAuthResponse(as, client, callback, state);
  const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, redirectUri, verifier, {
    ...insecure,
    additionalParameters: { resource: `${baseUrl}/v1` },
  });
  await assertMatchesContract('POST', '/oauth/token', response.clone());
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
  assert.equal(tokens.token_type, 'bearer');
  assert.equal(tokens.scope, 'read', 'read-only approval narrows a writer to read');
  assert.ok(tokens.refresh_token);
  assert.ok((tokens.expires_in ?? 0) <= 900);

  const refreshed = await oauth.processRefreshTokenResponse(
    as,
    client,
    await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token, insecure),
  );
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'the refresh token rotates');

  const list = await mcpCall(baseUrl, refreshed.access_token, 'tools/list');
  assert.equal(list.status, 200);
  const body = (await list.json()) as { result: { tools: { name: string }[] } };
  assert.ok(body.result.tools.some((t) => t.name === 'get_session_context'));
}
