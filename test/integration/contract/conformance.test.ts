import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runConformance, type CheckResult } from '../../../src/cli/conformance.js';
import { createEnvironment, createOrganization } from '../../../src/db/directory.js';
import { createServiceAccount } from '../../../src/oauth/admin.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';

// `lakehouse-mcp conformance <url>` against a live server (real OAuth: a service account's client
// credentials), through the installed bin with JUnit output, and behind a proxy that corrupts one field.

const ROOT = path.resolve(import.meta.dirname, '../../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lakehouse-conformance-'));

/** A reverse proxy to `target` that may rewrite response bodies; listening before the app starts, so the app's PUBLIC_URL can be the proxy. */
async function startProxy(rewrite: (body: string) => string) {
  const state = { target: 0 };
  const server = http.createServer((req, res) => {
    const upstream = http.request(
      { host: '127.0.0.1', port: state.target, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => {
          const body = rewrite(Buffer.concat(chunks).toString('utf8'));
          const headers = { ...answer.headers };
          delete headers['content-length'];
          delete headers['transfer-encoding'];
          res.writeHead(answer.statusCode ?? 502, { ...headers, 'content-length': Buffer.byteLength(body) });
          res.end(body);
        });
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://localhost:${(server.address() as AddressInfo).port}`,
    state,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

/** The real server (its own SECRET_KEY, never the repository's .data) with an organization acme/production. */
async function startApp(env: Record<string, string> = {}): Promise<TestApp> {
  const app = await startTestApp({ SECRET_KEY: Buffer.alloc(32, 9).toString('base64'), ...env });
  await createOrganization(app.database.db, 'acme');
  await createEnvironment(app.database.db, { organization: 'acme', environment: 'production' });
  return app;
}

async function serviceAccount(app: TestApp) {
  const account = await createServiceAccount(app.database.db, { organization: 'acme', environment: 'production' }, 'conformance-bot', [
    'read',
  ]);
  return { clientId: account.client_id, clientSecret: account.client_secret };
}

/**
 * TODO(lakehouse spec): query_lakehouse's example SQL reads `events`, which lives in the `sample` connection, but
 * the example input has no `connection` (default `lakehouse`), so the call fails with sql_error. Conformance is
 * right to report it; the fix is `examples: [sample]` on its `connection` input. Until then that one check is
 * tolerated here (only with that exact error), and this list must shrink, never grow.
 */
// Spec examples that cannot conform on any deployment (none now: every read tool's example runs).
const KNOWN_SPEC_GAPS: Record<string, RegExp> = {};
const known = (r: CheckResult) => KNOWN_SPEC_GAPS[r.name]?.test(r.message ?? '') === true;
const failures = (results: CheckResult[]) => results.filter((r) => r.outcome === 'failed' && !known(r));
const report = (results: CheckResult[]) => results.map((r) => `${r.outcome} ${r.name}${r.message ? `: ${r.message}` : ''}`).join('\n');

describe('lakehouse-mcp conformance <url>', () => {
  let app: TestApp;
  let credentials: { clientId: string; clientSecret: string };
  before(async () => {
    app = await startApp();
    credentials = await serviceAccount(app);
  });
  after(async () => {
    await app?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('passes against a live server with a service account (client_credentials), calling every read tool', async () => {
    const results = await runConformance({ url: app.url, ...credentials });
    assert.deepEqual(failures(results), [], report(results));
    const names = results.filter((r) => r.outcome === 'passed').map((r) => r.name);
    for (const expected of [
      'GET /openapi.json',
      '/.well-known/oauth-protected-resource (RFC 9728)',
      'client_credentials',
      'initialize',
      'tools/list',
      'tools/call search_docs',
      'tools/call get_session_context',
    ]) {
      assert.ok(
        names.some((n) => n.includes(expected)),
        `no passing check for ${expected}\n${report(results)}`,
      );
    }
  });

  it('without credentials checks the public contract, the metadata and the 401 challenge, and skips the tools', async () => {
    const results = await runConformance({ url: app.url });
    assert.deepEqual(failures(results), [], report(results));
    assert.ok(results.some((r) => r.name.startsWith('POST /v1 without a token answers 401') && r.outcome === 'passed'));
    assert.deepEqual(
      results.filter((r) => r.outcome === 'skipped').map((r) => r.name),
      ['tools over MCP'],
    );
  });

  it('fails on a bad token with a readable reason', async () => {
    const results = await runConformance({ url: app.url, token: 'not-a-token' });
    assert.deepEqual(
      failures(results).map((r) => r.name),
      ['initialize'],
    );
    assert.match(failures(results)[0]?.message ?? '', /answered 401/);
  });

  it('runs as the installed bin and writes JUnit XML, exit 0 when everything conforms', async () => {
    const junit = path.join(tmp, 'reports/conformance.xml');
    const child = spawn(
      process.execPath,
      [
        'bin/lakehouse-mcp.js',
        'conformance',
        app.url,
        '--client-id',
        credentials.clientId,
        '--client-secret',
        credentials.clientSecret,
        '--junit',
        junit,
      ],
      { cwd: ROOT },
    );
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stdout += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    const failed = [...stdout.matchAll(/✗ \[\w+\] (.+)\n\s+(.+)/g)].map(([, name = '', message = '']) => ({ name, message }));
    const unexpected = failed.filter((f) => !KNOWN_SPEC_GAPS[f.name]?.test(f.message));
    assert.deepEqual(unexpected, [], stdout);
    assert.equal(code, failed.length === 0 ? 0 : 1, stdout);
    assert.match(stdout, /✓ \[tools\] tools\/call search_docs/);
    assert.match(stdout, new RegExp(`\\d+ checks: \\d+ passed, ${failed.length} failed`));
    const xml = fs.readFileSync(junit, 'utf8');
    assert.match(
      xml,
      new RegExp(
        `^<\\?xml version="1.0" encoding="UTF-8"\\?>\\n<testsuites name="lakehouse-mcp conformance [^"]+" tests="\\d+" failures="${failed.length}"`,
      ),
    );
    assert.match(xml, /<testcase classname="conformance.tools" name="tools\/call search_docs" time="[\d.]+"\/>/);
  });
});

describe('lakehouse-mcp conformance catches a broken deployment', () => {
  it('fails, naming the tool and the field, when a proxy corrupts one field of structuredContent', async () => {
    // search_docs' output requires `items`; the proxy renames it in its results (the only ones whose items have a `slug`).
    const proxy = await startProxy((body) =>
      body.replace(/"structuredContent":\{"items":\[\{"slug":/g, '"structuredContent":{"itemz":[{"slug":'),
    );
    const app = await startApp({ PUBLIC_URL: proxy.url });
    try {
      proxy.state.target = app.server.port;
      const results = await runConformance({ url: proxy.url, ...(await serviceAccount(app)) });
      const failed = failures(results);
      assert.deepEqual(
        failed.map((r) => r.name),
        ['tools/call search_docs'],
        report(results),
      );
      assert.match(failed[0]?.message ?? '', /structuredContent breaks the output schema: .*(items|itemz)/);
    } finally {
      await app.close();
      await proxy.close();
    }
  });
});
