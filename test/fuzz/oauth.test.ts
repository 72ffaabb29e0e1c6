import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { createEnvironment, createOrganization } from '../../src/db/directory.js';
import { createServiceAccount } from '../../src/oauth/admin.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { answerOf, malformedOAuthError, rowCounts, type Answer } from '../faults/support.js';
import { anyJson, bounded, hostileString } from './arbitraries.js';

// Fuzzing the OAuth endpoints with fast-check: form and JSON bodies for /oauth/token, /oauth/register and
// /oauth/revoke, with hostile content types and Authorization headers. Never a 5xx; every refusal is an
// RFC 6749 / 7591 error body (or a problem document for what the app refuses before the handler); a
// refused request changes no row of the main tables.

let app: TestApp;
let account: { client_id: string; client_secret: string };
let publicClientId: string;

before(async () => {
  // The limits are off here so that the fuzzer reaches the handlers (test/faults/rate-limits.test.ts).
  app = await startTestApp({ REGISTRATION_LIMIT: '0', SIGNIN_LIMIT: '0', TOKEN_LIMIT: '0' });
  await createOrganization(app.database.db, 'acme');
  await createEnvironment(app.database.db, { organization: 'acme', environment: 'production' });
  account = await createServiceAccount(app.database.db, { organization: 'acme', environment: 'production' }, 'fuzz', ['read']);
  const registered = (await (
    await fetch(`${app.url}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'fuzz', redirect_uris: ['http://127.0.0.1:9/cb'], token_endpoint_auth_method: 'none' }),
    })
  ).json()) as { client_id: string };
  publicClientId = registered.client_id;
});
after(async () => app?.close());

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 });
const value = fc.oneof(hostileString, printable);

function formOf(fields: Record<string, unknown>): string {
  const form = new URLSearchParams();
  for (const [name, v] of Object.entries(fields)) {
    if (Array.isArray(v)) for (const item of v) form.append(name, String(item));
    else form.append(name, typeof v === 'string' ? v : (JSON.stringify(v) ?? ''));
  }
  return form.toString();
}

const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constant('form') },
  { weight: 2, arbitrary: fc.constant('json') },
  {
    weight: 1,
    arbitrary: fc.constantFrom('text/plain', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded; charset=latin1', ''),
  },
);

const authorization = () =>
  fc.oneof(
    fc.constant(undefined),
    fc.constant(`Basic ${Buffer.from(`${account.client_id}:${account.client_secret}`).toString('base64')}`),
    fc.constant(`Basic ${Buffer.from(`${account.client_id}:wrong`).toString('base64')}`),
    fc.tuple(printable, printable).map(([a, b]) => `Basic ${Buffer.from(`${a}:${b}`).toString('base64')}`),
    printable.map((p) => `Basic ${p}`),
    printable,
  );

async function post(path: string, kind: string, fields: unknown, auth: string | undefined): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (auth !== undefined) headers.authorization = auth;
  let body: string;
  if (kind === 'form') {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body =
      typeof fields === 'object' && fields !== null && !Array.isArray(fields) ? formOf(fields as Record<string, unknown>) : String(fields);
  } else if (kind === 'json') {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(fields) ?? 'null';
  } else {
    if (kind) headers['content-type'] = kind;
    body = typeof fields === 'string' ? fields : formOf(fields as Record<string, unknown>);
  }
  return answerOf(await fetch(`${app.url}${path}`, { method: 'POST', headers, body }));
}

async function checked(path: string, kind: string, fields: unknown, auth: string | undefined): Promise<Answer> {
  const before = await rowCounts(app.database.db);
  const answer = await post(path, kind, fields, auth);
  assert.ok(answer.status < 500, `5xx from ${path}: HTTP ${answer.status} ${answer.text.slice(0, 300)}`);
  assert.equal(malformedOAuthError(answer), undefined, `${path}: ${malformedOAuthError(answer)}`);
  if (answer.status >= 400)
    assert.deepEqual(await rowCounts(app.database.db), before, `a refused ${path} changed data: ${answer.text.slice(0, 300)}`);
  if (answer.status === 200 && path === '/oauth/token') {
    // A token is only ever handed to the one client that may have it: the service account.
    assert.match(answer.text, /"access_token"/);
    assert.ok(
      auth?.includes(Buffer.from(`${account.client_id}:${account.client_secret}`).toString('base64')) ||
        JSON.stringify(fields).includes(account.client_secret),
      'a token was issued to a caller without the secret',
    );
  }
  return answer;
}

async function stillAlive(): Promise<void> {
  assert.equal((await fetch(`${app.url}/healthz`)).status, 200, 'the server still answers /healthz');
}

describe('fuzzing the OAuth endpoints', () => {
  it('/oauth/token answers any form or JSON body with tokens or an RFC 6749 error, never a 5xx', async () => {
    const fields = fc.record(
      {
        grant_type: fc.oneof(
          fc.constantFrom(
            'authorization_code',
            'refresh_token',
            'client_credentials',
            'password',
            'urn:ietf:params:oauth:grant-type:device_code',
          ),
          value,
          fc.array(value, { maxLength: 3 }),
        ),
        code: value,
        redirect_uri: fc.oneof(fc.constant('http://127.0.0.1:9/cb'), value),
        code_verifier: value,
        client_id: fc.oneof(fc.constantFrom(account.client_id, publicClientId), value, fc.array(value, { minLength: 2, maxLength: 2 })),
        client_secret: fc.oneof(fc.constant(account.client_secret), value),
        refresh_token: value,
        scope: fc.oneof(fc.constantFrom('read', 'write', 'read write', 'admin', ''), value),
        resource: fc.oneof(fc.constant(`${app.url}/v1`), value),
        [`x${Math.random().toString(36).slice(2, 5)}`]: anyJson,
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(contentType, fc.oneof(fields, anyJson), authorization(), async (kind, body, auth) => {
        await checked('/oauth/token', kind, body, auth);
      }),
      bounded(3_500),
    );
    await stillAlive();
  });

  it('/oauth/register answers any client metadata with a client or an RFC 7591 error, never a 5xx', async () => {
    const uri = fc.oneof(
      fc.constantFrom(
        'http://127.0.0.1:9/cb',
        'http://localhost/cb',
        'https://app.example.com/cb',
        'cursor://anysphere.cursor-retrieval/oauth/callback',
        'javascript:alert(1)',
        'data:text/html,x',
        'file:///etc/passwd',
        'http://example.com/cb',
        'https://a.example/cb#frag',
        '//evil.example',
      ),
      fc.webUrl(),
      value,
    );
    const metadata = fc.record(
      {
        client_name: fc.oneof(value, anyJson),
        redirect_uris: fc.oneof(fc.array(uri, { maxLength: 4 }), anyJson),
        grant_types: fc.oneof(
          fc.array(fc.constantFrom('authorization_code', 'refresh_token', 'client_credentials', 'implicit', 'password'), { maxLength: 3 }),
          anyJson,
        ),
        response_types: fc.oneof(fc.array(fc.constantFrom('code', 'token'), { maxLength: 2 }), anyJson),
        token_endpoint_auth_method: fc.oneof(
          fc.constantFrom('none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'),
          anyJson,
        ),
        scope: fc.oneof(fc.constantFrom('read', 'read write', 'admin'), anyJson),
        client_uri: fc.oneof(fc.webUrl(), anyJson),
        logo_uri: fc.oneof(fc.webUrl(), anyJson),
        jwks_uri: fc.oneof(fc.constant('http://169.254.169.254/'), anyJson),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(contentType, fc.oneof({ weight: 4, arbitrary: metadata }, { weight: 1, arbitrary: anyJson }), async (kind, body) => {
        // Registration is JSON; the generator still sends forms and others.
        await checked('/oauth/register', kind === 'form' ? 'json' : kind === 'json' ? 'form' : kind, body, undefined);
      }),
      bounded(3_500),
    );
    await stillAlive();
  });

  it('/oauth/revoke answers any body with 200 or an RFC 7009 error, never a 5xx, and revokes nothing it should not', async () => {
    const fields = fc.record(
      {
        token: fc.oneof(value, fc.constant('eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.')),
        token_type_hint: fc.oneof(fc.constantFrom('access_token', 'refresh_token'), value),
        client_id: fc.oneof(fc.constantFrom(account.client_id, publicClientId), value),
        client_secret: fc.oneof(fc.constant(account.client_secret), value),
      },
      { requiredKeys: [] },
    );
    const grantsBefore = await app.database.db.selectFrom('oauth_grants').select(['id', 'revoked_at']).orderBy('id').execute();
    await fc.assert(
      fc.asyncProperty(contentType, fc.oneof(fields, anyJson), authorization(), async (kind, body, auth) => {
        await checked('/oauth/revoke', kind, body, auth);
      }),
      bounded(3_000),
    );
    // No random token is one of ours: every grant keeps its state.
    assert.deepEqual(await app.database.db.selectFrom('oauth_grants').select(['id', 'revoked_at']).orderBy('id').execute(), grantsBefore);
    await stillAlive();
  });
});
