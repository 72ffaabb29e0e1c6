import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertMatchesContract } from '../../helpers/contract.js';
import { startOAuthApp } from '../../helpers/oauth.js';

// RFC 7591 dynamic client registration: bad bodies get RFC 7591 errors; the per-IP limit holds in Postgres.
// TRUST_PROXY=1 lets each test come from its own X-Forwarded-For address.

let app: Awaited<ReturnType<typeof startOAuthApp>>;
let nextIp = 10;
before(async () => {
  app = await startOAuthApp({ REGISTRATION_LIMIT: '3', TRUST_PROXY: '1' });
});
after(async () => {
  await app?.close();
});

async function register(
  body: string,
  contentType = 'application/json',
  ip = `203.0.113.${nextIp++}`,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${app.issuer}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': contentType, 'x-forwarded-for': ip },
    body,
  });
  await assertMatchesContract('POST', '/oauth/register', response);
  return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers };
}

const valid = { client_name: 'Good', redirect_uris: ['https://app.example.com/cb'] };

describe('dynamic client registration', () => {
  it('registers a public client, ignoring a client-chosen client_id', async () => {
    const { status, body } = await register(JSON.stringify({ ...valid, client_id: 'i-choose-this' }));
    assert.equal(status, 201);
    assert.notEqual(body.client_id, 'i-choose-this');
    assert.equal(body.token_endpoint_auth_method, 'none');
    assert.equal(body.client_secret, undefined);
    assert.deepEqual(body.grant_types, ['authorization_code', 'refresh_token']);
  });

  it('gives a confidential client a URL-safe secret, stored hashed', async () => {
    const { body } = await register(JSON.stringify({ ...valid, token_endpoint_auth_method: 'client_secret_basic' }));
    assert.match(String(body.client_secret), /^[A-Za-z0-9_-]{43}$/);
    const row = await app.database.db
      .selectFrom('oauth_clients')
      .select('secret_hash')
      .where('id', '=', String(body.client_id))
      .executeTakeFirstOrThrow();
    assert.equal(row.secret_hash?.length, 32);
    assert.ok(!row.secret_hash.toString('utf8').includes(String(body.client_secret)));
  });

  it('accepts http redirect URIs on loopback hosts only', async () => {
    for (const uri of ['http://127.0.0.1:3456/cb', 'http://localhost/cb', 'http://[::1]:8080/cb']) {
      assert.equal((await register(JSON.stringify({ redirect_uris: [uri] }))).status, 201, uri);
    }
    const { status, body } = await register(JSON.stringify({ redirect_uris: ['http://app.example.com/cb'] }));
    assert.equal(status, 400);
    assert.equal(body.error, 'invalid_redirect_uri');
  });

  for (const [rule, body, error] of [
    ['JSON null', 'null', 'invalid_client_metadata'],
    ['a JSON array', JSON.stringify([valid]), 'invalid_client_metadata'],
    ['malformed JSON', '{"redirect_uris": [', 'invalid_client_metadata'],
    ['no redirect_uris', JSON.stringify({ client_name: 'x' }), 'invalid_redirect_uri'],
    ['redirect_uris not an array', JSON.stringify({ redirect_uris: 'https://a.example/cb' }), 'invalid_client_metadata'],
    [
      'too many redirect URIs',
      JSON.stringify({ redirect_uris: Array.from({ length: 21 }, (_, i) => `https://a.example/cb${i}`) }),
      'invalid_redirect_uri',
    ],
    ['a too long redirect URI', JSON.stringify({ redirect_uris: [`https://a.example/${'x'.repeat(2048)}`] }), 'invalid_redirect_uri'],
    ['a javascript: URI', JSON.stringify({ redirect_uris: ['javascript:alert(1)'] }), 'invalid_redirect_uri'],
    ['a data: URI', JSON.stringify({ redirect_uris: ['data:text/html,hi'] }), 'invalid_redirect_uri'],
    ['a file: URI', JSON.stringify({ redirect_uris: ['file:///etc/passwd'] }), 'invalid_redirect_uri'],
    ['a fragment', JSON.stringify({ redirect_uris: ['https://a.example/cb#frag'] }), 'invalid_redirect_uri'],
    ['a relative URI', JSON.stringify({ redirect_uris: ['/cb'] }), 'invalid_redirect_uri'],
    ['user information in a private-use scheme', JSON.stringify({ redirect_uris: ['x-app://u:p@host/cb'] }), 'invalid_redirect_uri'],
    ['an empty user information in https', JSON.stringify({ redirect_uris: ['https://@app.example.com/cb'] }), 'invalid_redirect_uri'],
    ['grant types without authorization_code', JSON.stringify({ ...valid, grant_types: ['refresh_token'] }), 'invalid_client_metadata'],
    ['client_credentials', JSON.stringify({ ...valid, grant_types: ['client_credentials'] }), 'invalid_client_metadata'],
    ['an implicit response type', JSON.stringify({ ...valid, response_types: ['token'] }), 'invalid_client_metadata'],
    ['an unknown auth method', JSON.stringify({ ...valid, token_endpoint_auth_method: 'private_key_jwt' }), 'invalid_client_metadata'],
    ['an unknown scope', JSON.stringify({ ...valid, scope: 'read admin' }), 'invalid_client_metadata'],
  ] as const) {
    it(`refuses ${rule} with ${error}`, async () => {
      const answer = await register(body);
      assert.equal(answer.status, 400, JSON.stringify(answer.body));
      assert.equal(answer.body.error, error);
      assert.equal(typeof answer.body.error_description, 'string');
    });
  }

  it('refuses loopback hosts not written as 127.0.0.1, [::1] or localhost, saying which to register', async () => {
    for (const [uri, instead] of [
      ['http://127.1/cb', 'http://127.0.0.1/cb'],
      ['http://0x7f.0.0.1/cb', 'http://127.0.0.1/cb'],
      ['http://2130706433:8080/cb', 'http://127.0.0.1:8080/cb'],
      ['http://127.000.000.001/cb', 'http://127.0.0.1/cb'],
      ['http://[0:0:0:0:0:0:0:1]/cb', 'http://[::1]/cb'],
      ['http://LOCALHOST/cb', 'http://localhost/cb'],
      ['https://127.1/cb', 'https://127.0.0.1/cb'],
    ] as const) {
      const { status, body } = await register(JSON.stringify({ redirect_uris: [uri] }));
      assert.equal(status, 400, uri);
      assert.equal(body.error, 'invalid_redirect_uri', uri);
      assert.ok(String(body.error_description).includes(`register ${JSON.stringify(instead)} instead`), String(body.error_description));
    }
  });

  it('refuses a body that is not application/json with 415', async () => {
    const { status, body } = await register('redirect_uris=https://a.example/cb', 'application/x-www-form-urlencoded');
    assert.equal(status, 415);
    assert.equal(body.error, 'invalid_client_metadata');
  });

  it('limits registrations per IP address (REGISTRATION_LIMIT) with 429, counted in Postgres', async () => {
    const ip = '198.51.100.7';
    for (let i = 0; i < 3; i++) assert.equal((await register(JSON.stringify(valid), 'application/json', ip)).status, 201);
    const limited = await register(JSON.stringify(valid), 'application/json', ip);
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    const counter = await app.database.db
      .selectFrom('rate_limit_counters')
      .select('hits')
      .where('key', '=', `register:${ip}`)
      .executeTakeFirstOrThrow();
    assert.equal(counter.hits, 3, 'registrations made; the refused 429 is not one');
    assert.equal((await register(JSON.stringify(valid), 'application/json', '198.51.100.8')).status, 201, 'another address is not limited');
  });

  it('counts IPv6 clients per /64, and IPv4-mapped IPv6 as the IPv4 address', async () => {
    for (const ip of ['2001:db8:7:1::1', '2001:db8:7:1::2', '2001:db8:7:1:abcd:ef01:2345:6789']) {
      assert.equal((await register(JSON.stringify(valid), 'application/json', ip)).status, 201, ip);
    }
    assert.equal(
      (await register(JSON.stringify(valid), 'application/json', '2001:db8:7:1:ffff::9')).status,
      429,
      'another address of the same /64',
    );
    assert.equal((await register(JSON.stringify(valid), 'application/json', '2001:db8:7:2::1')).status, 201, 'another /64 is not limited');
    for (const ip of ['198.51.100.20', '::ffff:198.51.100.20', '198.51.100.20']) {
      assert.equal((await register(JSON.stringify(valid), 'application/json', ip)).status, 201, ip);
    }
    assert.equal((await register(JSON.stringify(valid), 'application/json', '::ffff:198.51.100.20')).status, 429);
  });

  it('counts only successful registrations against REGISTRATION_LIMIT; refused ones have their own limit, five times higher', async () => {
    const ip = '198.51.100.30';
    const bad = JSON.stringify({ redirect_uris: ['javascript:alert(1)'] });
    for (let i = 0; i < 5; i++) assert.equal((await register(bad, 'application/json', ip)).status, 400);
    assert.equal((await register(JSON.stringify(valid), 'application/json', ip)).status, 201, 'refusals did not use up REGISTRATION_LIMIT');
    // 3 × 5 = 15 refusals per hour; a 415 is a refusal too.
    for (let i = 5; i < 14; i++) assert.equal((await register(bad, 'application/json', ip)).status, 400, `refusal ${i + 1}`);
    assert.equal((await register('redirect_uris=x', 'application/x-www-form-urlencoded', ip)).status, 415, 'refusal 15');
    const limited = await register(JSON.stringify(valid), 'application/json', ip);
    assert.equal(limited.status, 429);
    assert.match(String(limited.body.error_description), /refused/);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
  });
});
