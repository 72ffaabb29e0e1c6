import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { assertMatchesContract, restClient } from '../../helpers/contract.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { serviceToken } from '../../helpers/tokens.js';

let app: TestApp;
let token: string;
let auth: Record<string, string>;
before(async () => {
  app = await startTestApp();
  token = await serviceToken(app, 'acme/production', ['read']);
  auth = { authorization: `Bearer ${token}` };
});
after(async () => {
  await app?.close();
});

async function post(path: string, body: string | Buffer, contentType = 'application/json'): Promise<Response> {
  const response = await fetch(`${app.url}${path}`, { method: 'POST', headers: { 'content-type': contentType, ...auth }, body });
  return response;
}

async function problem(
  response: Response,
  status: number,
  code: string,
): Promise<{ detail: string; errors?: { location: string; message: string }[] }> {
  assert.equal(response.status, status);
  assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const body = (await response.json()) as {
    code: string;
    status: number;
    detail: string;
    errors?: { location: string; message: string }[];
  };
  assert.equal(body.code, code);
  assert.equal(body.status, status);
  return body;
}

describe('operational routes', () => {
  it('answers /healthz and /readyz with 200 while the database is reachable', async () => {
    const client = restClient(app.url);
    const health = await client.GET('/healthz');
    assert.deepEqual(health.data, { status: 'ok' });
    const ready = await client.GET('/readyz');
    assert.deepEqual(ready.data, { status: 'ok' });
  });

  it('publishes the bundled contract at /openapi.json, tool routes included', async () => {
    const { data } = await restClient(app.url).GET('/openapi.json');
    const doc = data as { openapi: string; paths: Record<string, Record<string, { 'x-tool'?: string }>> };
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(doc.paths['/api/v1/docs/search']?.post?.['x-tool'], 'search_docs');
    assert.equal(doc.paths['/api/v1/docs/{slug}']?.get?.['x-tool'], 'get_doc');
    assert.ok(!JSON.stringify(doc).includes('.yaml'), 'no reference to a spec file is left');
  });

  it('counts requests by route template in /metrics', async () => {
    await fetch(`${app.url}/api/v1/docs/concepts`, { headers: auth });
    const response = await restClient(app.url).GET('/metrics', { parseAs: 'text' });
    assert.match(response.data ?? '', /http_requests_total\{method="GET",route="\/api\/v1\/docs\/\{slug\}",status="200"\} \d+/);
    assert.match(response.data ?? '', /http_request_duration_seconds_bucket/);
  });

  it('sets security headers and echoes a well-formed request id', async () => {
    const response = await fetch(`${app.url}/healthz`, { headers: { 'x-request-id': 'trace-123' } });
    assert.equal(response.headers.get('x-request-id'), 'trace-123');
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    assert.match(response.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    const forged = await fetch(`${app.url}/healthz`, { headers: { 'x-request-id': 'bad id\twith spaces' } });
    assert.match(forged.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  });
});

describe('documentation tools over REST', () => {
  it('search_docs ranks pages and marks the matches in bold', async () => {
    const { data } = await restClient(app.url, auth).POST('/api/v1/docs/search', { body: { query: 'environment membership' } });
    assert.ok(data && data.items.length > 0);
    assert.ok(data.items.some((item) => item.slug === 'concepts'));
    assert.match(data.items[0]?.snippet ?? '', /\*\*[A-Za-z]+\*\*/);
  });

  it('search_docs honours limit and finds nothing for unknown words', async () => {
    const client = restClient(app.url, auth);
    const one = await client.POST('/api/v1/docs/search', { body: { query: 'environment', limit: 1 } });
    assert.equal(one.data?.items.length, 1);
    const none = await client.POST('/api/v1/docs/search', { body: { query: 'xylophonequartz' } });
    assert.deepEqual(none.data, { items: [] });
  });

  it('get_doc returns a page, including slugs with a slash', async () => {
    const client = restClient(app.url, auth);
    const page = await client.GET('/api/v1/docs/{slug}', { params: { path: { slug: 'concepts' } } });
    assert.equal(page.data?.title, 'Concepts');
    const reference = await client.GET('/api/v1/docs/{slug}', { params: { path: { slug: 'reference/tools' } } });
    assert.equal(reference.data?.title, 'Tool reference');
  });

  it('get_doc answers 404 not_found for an unknown page', async () => {
    const response = await fetch(`${app.url}/api/v1/docs/no-such-page`, { headers: auth });
    await assertMatchesContract('GET', '/api/v1/docs/{slug}', response);
    const body = await problem(response, 404, 'not_found');
    assert.match(body.detail, /search_docs/);
  });
});

describe('bad input gets a clear problem and changes nothing', () => {
  it('refuses malformed JSON with 400 malformed_json', async () => {
    const response = await post('/api/v1/docs/search', '{"query": ');
    await assertMatchesContract('POST', '/api/v1/docs/search', response);
    await problem(response, 400, 'malformed_json');
  });

  it('refuses a body over 1 MiB with 413 payload_too_large', async () => {
    const huge = JSON.stringify({ query: 'x'.repeat(1024 * 1024 + 10) });
    const response = await post('/api/v1/docs/search', huge);
    await problem(response, 413, 'payload_too_large');
  });

  it('refuses a content type the route does not declare with 415', async () => {
    const response = await post('/api/v1/docs/search', 'query=x', 'application/x-www-form-urlencoded');
    const body = await problem(response, 415, 'unsupported_media_type');
    assert.match(body.detail, /application\/json/);
  });

  it('lists every schema violation with its location', async () => {
    const response = await post('/api/v1/docs/search', JSON.stringify({ limit: 'ten', extra: true }));
    await assertMatchesContract('POST', '/api/v1/docs/search', response);
    const body = await problem(response, 400, 'validation_failed');
    const locations = (body.errors ?? []).map((e) => e.location).sort();
    assert.deepEqual(locations, ['body/extra', 'body/limit', 'body/query']);
  });

  it('checks path parameters against their schema', async () => {
    const response = await fetch(`${app.url}/api/v1/docs/..%2Fetc%2Fpasswd`, { headers: auth });
    const body = await problem(response, 400, 'validation_failed');
    assert.equal(body.errors?.[0]?.location, 'path/slug');
  });

  it('answers 404 for an unknown route and 405 with Allow for a wrong method', async () => {
    await problem(await fetch(`${app.url}/api/v1/nothing-here`), 404, 'not_found');
    const wrong = await fetch(`${app.url}/healthz`, { method: 'DELETE' });
    assert.equal(wrong.headers.get('allow'), 'HEAD, GET');
    await problem(wrong, 405, 'method_not_allowed');
  });
});

describe('failures', () => {
  it('never leaks internals in a 5xx body', async () => {
    // Break the docs table under the running server: the query fails inside Postgres.
    await sql`ALTER TABLE docs RENAME TO docs_hidden`.execute(app.database.db);
    try {
      const response = await post('/api/v1/docs/search', JSON.stringify({ query: 'environment' }));
      await assertMatchesContract('POST', '/api/v1/docs/search', response);
      const text = await response.clone().text();
      await problem(response, 500, 'internal_error');
      assert.doesNotMatch(text, /docs|relation|postgres|at \w+ \(|\.ts/i);
    } finally {
      await sql`ALTER TABLE docs_hidden RENAME TO docs`.execute(app.database.db);
    }
  });

  it('answers /readyz 503 when the database refuses connections, and 200 once it accepts them again', async () => {
    const name = new URL(app.database.url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: process.env.TEST_PG_URL });
    await admin.connect();
    try {
      await admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name]);
      const response = await fetch(`${app.url}/readyz`);
      await assertMatchesContract('GET', '/readyz', response);
      await problem(response, 503, 'unavailable');
    } finally {
      await admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS true`);
      await admin.end();
    }
    const again = await fetch(`${app.url}/readyz`);
    assert.equal(again.status, 200);
  });
});

describe('REST authentication and audit', () => {
  it('answers 401 with a challenge naming the resource metadata when a tool route gets no token', async () => {
    const response = await fetch(`${app.url}/api/v1/docs/concepts`);
    await assertMatchesContract('GET', '/api/v1/docs/{slug}', response);
    assert.equal(
      response.headers.get('www-authenticate'),
      `Bearer resource_metadata="${app.url}/.well-known/oauth-protected-resource/v1", scope="read write"`,
    );
    await problem(response, 401, 'unauthorized');
  });

  it('answers 401 invalid_token for a forged token', async () => {
    const [header = '', payload = ''] = token.split('.');
    const forged = `${header}.${payload}.${Buffer.from('not the signature').toString('base64url')}`;
    const response = await fetch(`${app.url}/api/v1/docs/concepts`, { headers: { authorization: `Bearer ${forged}` } });
    assert.match(response.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    await problem(response, 401, 'invalid_token');
  });

  it('answers 403 insufficient_scope when a read token calls a write tool, and creates nothing', async () => {
    const response = await post('/api/v1/memories', JSON.stringify({ content: 'x', type: 'semantic', importance: 0.5 }));
    assert.match(
      response.headers.get('www-authenticate') ?? '',
      /error="insufficient_scope", scope="read write"|scope="read write".*error="insufficient_scope"/,
    );
    await problem(response, 403, 'insufficient_scope');
  });

  it('writes every authenticated REST call to the audit log', async () => {
    await fetch(`${app.url}/api/v1/docs/getting-started`, { headers: auth });
    let rows: { operation: string; outcome: string; actor: string }[] = [];
    for (let i = 0; i < 50 && rows.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      rows = await app.database.db
        .selectFrom('audit_log')
        .select(['operation', 'outcome', 'actor'])
        .where('operation', '=', 'get_doc')
        .execute();
    }
    assert.ok(
      rows.some((r) => r.outcome === 'ok' && r.actor.startsWith('service:')),
      JSON.stringify(rows),
    );
  });
});
