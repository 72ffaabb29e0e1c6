import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { startServer } from '../../../src/server.js';
import { bearerChallenge, insufficientScope, requireScope } from '../../../src/oauth/challenge.js';
import { rotateSigningKey } from '../../../src/oauth/keys.js';
import type { Principal } from '../../../src/oauth/principal.js';
import { mcpCall, startOAuthApp, TEST_SECRET_KEY, userTokens } from '../../helpers/oauth.js';
import { testLakehouseEnv } from '../../helpers/db.js';

// The resource side: what /v1 accepts as a bearer token, the challenges, the scope gate, environment
// isolation and key rotation.

let app: Awaited<ReturnType<typeof startOAuthApp>>;
let good: { accessToken: string };
before(async () => {
  app = await startOAuthApp();
  good = await userTokens(app);
});
after(async () => {
  await app?.close();
});

async function status(token: string | undefined, method = 'tools/list'): Promise<{ status: number; challenge: string }> {
  const response = await mcpCall(app.url, token, method);
  await response.body?.cancel();
  return { status: response.status, challenge: response.headers.get('www-authenticate') ?? '' };
}

/** A token signed with a key of our own making, with the claims of a real one plus `overrides`. */
async function forge(overrides: Record<string, unknown> = {}, header: Record<string, unknown> = {}, alg = 'ES256'): Promise<string> {
  const claims = { ...decodeJwt(good.accessToken), ...overrides };
  const kid = decodeProtectedHeader(good.accessToken).kid ?? '';
  const { privateKey } = await generateKeyPair(alg);
  return new SignJWT(claims).setProtectedHeader({ alg, typ: 'at+jwt', kid, ...header }).sign(privateKey);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('bearer tokens on /v1', () => {
  it('accepts a real token', async () => {
    assert.equal((await status(good.accessToken)).status, 200);
  });

  it('initialize needs no token; other methods answer 401 with a resource_metadata challenge', async () => {
    assert.equal((await status(undefined, 'initialize')).status, 200);
    const { status: code, challenge } = await status(undefined);
    assert.equal(code, 401);
    assert.equal(challenge, bearerChallenge(`${app.url}/.well-known/oauth-protected-resource/v1`, { scope: 'read write' }));
    assert.doesNotMatch(challenge, /error=/);
  });

  for (const [rule, make] of [
    ['a forged signature', () => forge()],
    ['an expired token', () => forge({ exp: Math.floor(Date.now() / 1000) - 60 })],
    ['the wrong audience', () => forge({ aud: 'https://other.example/v1' })],
    ['alg: none', async () => `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64(decodeJwt(good.accessToken))}.`],
    [
      'an HMAC algorithm keyed with the public JWK',
      async () => {
        const jwks = (await (await fetch(`${app.issuer}/oauth/jwks.json`)).json()) as { keys: unknown[] };
        const secret = Buffer.from(JSON.stringify(jwks.keys[0]));
        const kid = decodeProtectedHeader(good.accessToken).kid ?? '';
        return new SignJWT(decodeJwt(good.accessToken)).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid }).sign(secret);
      },
    ],
    ['an unknown kid', () => forge({}, { kid: 'no-such-key' })],
    ['a garbage string', async () => 'not-a-jwt'],
  ] as const) {
    it(`refuses ${rule} with 401 invalid_token`, async () => {
      const { status: code, challenge } = await status(await make());
      assert.equal(code, 401);
      assert.match(challenge, /^Bearer /);
      assert.match(challenge, /error="invalid_token"/);
      assert.match(challenge, /resource_metadata="[^"]+\/\.well-known\/oauth-protected-resource\/v1"/);
    });
  }

  it('refuses a token of this key but with a wrong issuer or audience, through the verifier itself', async () => {
    // Signed with the server's own current key: only the claim checks stand in the way.
    const { kid, key } = app.server.oauth.keys.signingKey();
    const claims = decodeJwt(good.accessToken);
    for (const overrides of [
      { iss: 'https://evil.example' },
      { aud: 'https://evil.example/v1' },
      { exp: Math.floor(Date.now() / 1000) - 60 },
    ]) {
      const token = await new SignJWT({ ...claims, ...overrides }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid }).sign(key);
      await assert.rejects(app.server.oauth.verifier.verify(token), (error: { status?: number }) => error.status === 401);
    }
    const wrongType = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid }).sign(key);
    await assert.rejects(app.server.oauth.verifier.verify(wrongType), (error: { status?: number }) => error.status === 401);
  });

  it('carries iss, sub with a user: prefix, aud, client_id, scope, org, env and jti, and lives at most 15 minutes', async () => {
    const claims = decodeJwt(good.accessToken);
    assert.equal(decodeProtectedHeader(good.accessToken).typ, 'at+jwt');
    assert.equal(claims.iss, app.issuer);
    assert.match(claims.sub ?? '', /^user:[0-9a-f-]{36}$/);
    assert.equal(claims.aud, `${app.url}/v1`);
    assert.equal(claims.env, app.directory.production.id);
    assert.equal(claims.org, app.directory.production.organizationId);
    assert.ok(claims.jti && claims.client_id && claims.scope);
    assert.ok((claims.exp ?? 0) - (claims.iat ?? 0) <= 900);
  });
});

describe('the scope gate', () => {
  const principal = (scopes: ('read' | 'write')[]) => ({ scopes: new Set(scopes) }) as unknown as Principal;

  it('passes a principal holding the scope', () => {
    requireScope(app.server.config, principal(['read', 'write']), 'write');
  });

  it('refuses a missing scope with 403 insufficient_scope naming the needed scope', () => {
    assert.throws(
      () => requireScope(app.server.config, principal(['read']), 'write', 'create_insight'),
      (error: { status: number; code: string; headers: Record<string, string> }) => {
        assert.equal(error.status, 403);
        assert.equal(error.code, 'insufficient_scope');
        assert.match(error.headers['WWW-Authenticate'] ?? '', /error="insufficient_scope"/);
        assert.match(error.headers['WWW-Authenticate'] ?? '', /scope="read write"/);
        return true;
      },
    );
    assert.equal(insufficientScope(app.server.config, 'read', new Set()).status, 403);
  });

  it('a read-only token lists only read tools', async () => {
    const readOnly = await userTokens(app, { readOnly: true });
    const response = await mcpCall(app.url, readOnly.accessToken, 'tools/list');
    const { result } = (await response.json()) as { result: { tools: { name: string }[] } };
    assert.ok(result.tools.length > 0);
    const scopes = new Set(
      (await import('../../../src/generated/tools.js')).toolCatalogue
        .filter((t) => result.tools.some((r) => r.name === t.name))
        .map((t) => t.scope),
    );
    assert.deepEqual([...scopes], ['read']);
  });
});

describe('environments', () => {
  it("a token for one environment never reaches another environment's data", async () => {
    const staging = await userTokens(app, { environment: 'acme/staging' });
    assert.equal(staging.scope, 'read', 'ada is a reader in staging');
    const context = async (token: string) => {
      const response = await mcpCall(app.url, token, 'tools/call', { name: 'get_session_context', arguments: {} });
      return JSON.stringify(((await response.json()) as { result: { structuredContent: unknown } }).result.structuredContent);
    };
    const inStaging = await context(staging.accessToken);
    assert.match(inStaging, /staging/);
    assert.doesNotMatch(inStaging, /production/);
    assert.equal(decodeJwt(staging.accessToken).env, app.directory.staging.id);
    // The refresh token stays in staging too.
    const refreshed = await fetch(`${app.issuer}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: staging.refreshToken, client_id: staging.clientId }),
    });
    const body = (await refreshed.json()) as { access_token: string };
    assert.equal(decodeJwt(body.access_token).env, app.directory.staging.id);
  });
});

describe('signing keys', () => {
  it('after a rotation, old tokens stay valid and new tokens use the new key', async () => {
    const before = decodeProtectedHeader(good.accessToken).kid;
    const { kid } = await rotateSigningKey(app.database.db, Buffer.from(TEST_SECRET_KEY, 'base64'));
    assert.notEqual(kid, before);
    // A fresh process picks the new key at start; the running one within its reload period (or on the new kid).
    const second = await startServer({
      ...testLakehouseEnv(),
      PATH: process.env.PATH,
      PORT: '0',
      LOG_LEVEL: 'silent',
      DATABASE_URL: app.database.url,
      SECRET_KEY: TEST_SECRET_KEY,
      PUBLIC_URL: app.url,
    });
    try {
      assert.equal(second.oauth.keys.signingKey().kid, kid);
      const jwks = second.oauth.keys.jwks().keys.map((k) => k.kid);
      assert.ok(jwks.includes(before) && jwks.includes(kid), 'the retired key is still published');
      await second.oauth.verifier.verify(good.accessToken);
      // A token signed by the new key verifies on the old process (it reloads on the unknown kid).
      const { key } = second.oauth.keys.signingKey();
      const fresh = await new SignJWT({ ...decodeJwt(good.accessToken), jti: crypto.randomUUID() })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid })
        .sign(key);
      await app.server.oauth.verifier.verify(fresh);
      assert.equal((await status(fresh)).status, 200);
    } finally {
      await second.close();
    }
  });

  it('a wrong SECRET_KEY is a clear start-up error', async () => {
    await assert.rejects(
      startServer({
        ...testLakehouseEnv(),
        PATH: process.env.PATH,
        PORT: '0',
        LOG_LEVEL: 'silent',
        DATABASE_URL: app.database.url,
        SECRET_KEY: crypto.randomBytes(32).toString('base64'),
      }),
      /SECRET_KEY does not decrypt the signing keys in the database/,
    );
  });

  it('publishes only public key material', async () => {
    const { keys } = (await (await fetch(`${app.issuer}/oauth/jwks.json`)).json()) as { keys: Record<string, unknown>[] };
    for (const key of keys) {
      assert.deepEqual(Object.keys(key).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    }
  });
});
