import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { restClient } from '../helpers/contract.js';
import { takeContractMismatches, withoutContractCheck } from '../helpers/contract-fetch.js';

// The fetch wrapper that test/run.ts loads into every test process (imported here too, so that this file also
// proves it when run on its own): a fake server on loopback answers contract routes, rightly and wrongly.

interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Keep the response open after the body (a stream that never ends). */
  open?: boolean;
}

const answers = new Map<string, Answer>();
let server: http.Server;
let base: string;

before(async () => {
  server = http.createServer((req, res) => {
    const answer = answers.get(`${req.method} ${req.url}`) ?? { status: 599, body: 'no answer set' };
    res.writeHead(answer.status, answer.headers);
    if (answer.open) res.write(answer.body ?? '');
    else res.end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
// The mismatches provoked here are meant: forget them, or this process would exit non-zero.
afterEach(() => takeContractMismatches());
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const json = (status: number, body: unknown, type = 'application/json'): Answer => ({
  status,
  headers: { 'content-type': type },
  body: JSON.stringify(body),
});
const problem = (status: number, code: string): Answer =>
  json(status, { type: `https://lakehouse-mcp.dev/problems/${code}`, title: code, status, code }, 'application/problem+json');
const tokens = { access_token: 'a', token_type: 'Bearer', expires_in: 900, scope: 'read' };

function answer(method: string, path: string, value: Answer): string {
  answers.set(`${method} ${path}`, value);
  return `${base}${path}`;
}

describe('contract-checked fetch', () => {
  it('passes a conforming response through, its body still readable', async () => {
    const url = answer('GET', '/healthz', json(200, { status: 'ok' }, 'Application/JSON; charset=UTF-8'));
    const response = await fetch(url);
    assert.deepEqual(await response.json(), { status: 'ok' });
  });

  it('rejects a status the operation does not declare, naming method, path and status', async () => {
    const url = answer('GET', '/healthz', json(418, { status: 'ok' }));
    await assert.rejects(fetch(url), {
      name: 'AssertionError',
      message: /^GET \/healthz answered 418, which the contract does not declare/i,
    });
  });

  it('rejects a body that misses a required field, with the schema error', async () => {
    const url = answer('POST', '/oauth/token', json(200, { ...tokens, access_token: undefined }));
    await assert.rejects(fetch(url, { method: 'POST', body: 'grant_type=client_credentials' }), {
      message: /^POST \/oauth\/token 200 body breaks the contract: \(root\) must have required property 'access_token'/i,
    });
  });

  it('rejects a value the schema forbids', async () => {
    const url = answer('GET', '/healthz', json(200, { status: 'fine' }));
    await assert.rejects(fetch(url), {
      message: /^GET \/healthz 200 body breaks the contract: \/status must be equal to one of the allowed values/i,
    });
  });

  it('rejects a content type the status does not declare', async () => {
    const url = answer('GET', '/healthz', { status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' });
    await assert.rejects(fetch(url), { message: /^GET \/healthz 200: content type "text\/plain" is not declared/i });
  });

  it('rejects a JSON content type whose body is not JSON', async () => {
    const url = answer('GET', '/healthz', { status: 200, headers: { 'content-type': 'application/json' }, body: '{"status":' });
    await assert.rejects(fetch(url), { message: /^GET \/healthz 200 body is not JSON/i });
  });

  it('checks operations with path parameters, errors against `default`', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    const ok = answer('GET', `/api/v1/insights/${id}`, problem(404, 'not_found'));
    assert.equal((await fetch(ok)).status, 404);
    const bad = answer('GET', `/api/v1/insights/${id}x`, json(404, { error: 'not_found' }));
    await assert.rejects(fetch(bad), {
      message: /^GET \/api\/v1\/insights\/\{id\} 404: content type "application\/json" is not declared/i,
    });
  });

  it('checks the OAuth endpoints under the issuer path and the path-inserted metadata URL', async () => {
    const token = answer('POST', '/auth/oauth/token', json(200, { ...tokens, token_type: 'bearer' }));
    await assert.rejects(fetch(token, { method: 'POST' }), { message: /^POST \/oauth\/token 200 body breaks the contract: \/token_type/i });
    const metadata = answer('GET', '/.well-known/oauth-authorization-server/auth', json(200, { issuer: 'x' }));
    await assert.rejects(fetch(metadata), { message: /^GET \/\.well-known\/oauth-authorization-server 200 body breaks the contract/i });
  });

  it('requires a problem document for an error outside the operations (unknown /api/ path, undeclared method)', async () => {
    const unknown = answer('GET', '/api/v1/nothing-here', { status: 404, headers: { 'content-type': 'text/plain' }, body: 'Not Found' });
    await assert.rejects(fetch(unknown), {
      message: /^GET \/api\/v1\/nothing-here \(no such operation in the contract\) answered 404 with content type "text\/plain"/i,
    });
    const method = answer('DELETE', '/healthz', json(405, { error: 'method' }, 'application/problem+json'));
    await assert.rejects(fetch(method, { method: 'DELETE' }), {
      message: /^DELETE \/healthz \(no such operation in the contract\) 405 body breaks the contract/i,
    });
    const fine = answer('GET', '/api/v1/also-nothing', problem(404, 'not_found'));
    assert.equal((await fetch(fine)).status, 404);
  });

  it('leaves alone paths outside the contract, /v1, HEAD, and streams it does not have to read', async () => {
    assert.equal((await fetch(answer('POST', '/hook', { status: 500, body: 'receiver down' }), { method: 'POST' })).status, 500);
    const v1 = await fetch(
      answer('POST', '/v1', { status: 200, headers: { 'content-type': 'text/event-stream' }, body: 'event: message\n\n', open: true }),
      { method: 'POST' },
    );
    assert.equal(v1.status, 200);
    await v1.body?.cancel();
    assert.equal((await fetch(answer('HEAD', '/healthz', { status: 418 }), { method: 'HEAD' })).status, 418);
    // A contract route answering a never-ending event stream fails on its content type, without waiting for the body.
    const stream = answer('GET', '/readyz', {
      status: 200,
      headers: { 'content-type': 'text/event-stream' },
      body: 'data: {}\n\n',
      open: true,
    });
    await assert.rejects(fetch(stream), { message: /^GET \/readyz 200: content type "text\/event-stream" is not declared/i });
  });

  it('remembers a mismatch that a caller swallowed, to fail the test file when the process exits', async () => {
    takeContractMismatches();
    const url = answer('GET', '/healthz', json(500, {}));
    const swallowed = await fetch(url).catch(() => undefined);
    assert.equal(swallowed, undefined);
    assert.deepEqual(takeContractMismatches(), ['GET /healthz answered 500, which the contract does not declare (declared: 200)']);
  });

  it('withoutContractCheck lets a test talk to a server that breaks the contract on purpose', async () => {
    const url = answer('GET', '/healthz', json(418, {}));
    const response = await withoutContractCheck(() => fetch(url));
    assert.equal(response.status, 418);
  });

  it('covers restClient (openapi-fetch) too, once', async () => {
    answer('GET', '/readyz', json(200, { status: 'ok' }));
    const { data } = await restClient(base).GET('/readyz');
    assert.deepEqual(data, { status: 'ok' });
    answer('GET', '/readyz', problem(503, 'unavailable'));
    const { error } = await restClient(base).GET('/readyz');
    assert.equal(error?.code, 'unavailable');
    answer('GET', '/readyz', json(503, { status: 'ok' }));
    await assert.rejects(restClient(base).GET('/readyz'), {
      message: /^GET \/readyz 503: content type "application\/json" is not declared/i,
    });
  });
});
