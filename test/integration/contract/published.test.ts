import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserTests, launchChromium } from '../../helpers/browser.js';
import openapi from '../../../src/generated/openapi.json' with { type: 'json' };
import { toolCatalogue } from '../../../src/generated/tools.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { assertMatchesContract, restClient } from '../../helpers/contract.js';

// The published contract: /openapi.json, the API reference at /docs/api (Redoc from node_modules, no CDN)
// and the tool catalogue at /api/v1/tools; all public, all checked against the contract they publish.

let app: TestApp;
before(async () => {
  app = await startTestApp();
});
after(async () => {
  await app?.close();
});

/** Every `$ref` in a document, with where it is. */
function refs(node: unknown, at = '#'): { at: string; ref: string }[] {
  if (Array.isArray(node)) return node.flatMap((item, i) => refs(item, `${at}/${i}`));
  if (typeof node !== 'object' || node === null) return [];
  return Object.entries(node).flatMap(([key, value]) =>
    key === '$ref' && typeof value === 'string' ? [{ at, ref: value }] : refs(value, `${at}/${key}`),
  );
}

function resolve(doc: unknown, ref: string): unknown {
  return ref
    .slice(2)
    .split('/')
    .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], doc);
}

describe('the published contract', () => {
  it('serves /openapi.json without a token: bundled, every $ref internal and resolvable, tool schemas included', async () => {
    const { data, response } = await restClient(app.url).GET('/openapi.json');
    assert.equal(response.status, 200);
    assert.deepEqual(data, openapi);
    for (const { at, ref } of refs(data)) {
      assert.ok(ref.startsWith('#/'), `${at}: external $ref ${ref}`);
      assert.notEqual(resolve(data, ref), undefined, `${at}: $ref ${ref} does not resolve`);
    }
    const schemas = (data as { components: { schemas: Record<string, unknown> } }).components.schemas;
    for (const tool of toolCatalogue) {
      const output = `${tool.name.replace(/(^|_)([a-z0-9])/g, (_m, _s, c: string) => c.toUpperCase())}Output`;
      assert.ok(schemas[output], `${tool.name}: ${output} is not in the contract`);
    }
  });

  it('serves the tool catalogue at /api/v1/tools without a token, every tool whatever its scope', async () => {
    const { data, response } = await restClient(app.url).GET('/api/v1/tools');
    assert.equal(response.status, 200);
    assert.deepEqual(
      data?.tools.map((t) => t.name),
      toolCatalogue.map((t) => t.name),
    );
    const doc = data?.tools.find((t) => t.name === 'get_doc');
    assert.deepEqual(doc?.rest, { method: 'GET', path: '/api/v1/docs/{slug}', operationId: 'getDoc' });
    assert.equal(doc?.scope, 'read');
    assert.doesNotMatch(JSON.stringify(data), /\$ref|"x-/);
  });

  it('serves the API reference page with a policy that allows exactly its local script', async () => {
    const response = await fetch(`${app.url}/docs/api`);
    await assertMatchesContract('GET', '/docs/api', response);
    assert.equal(response.status, 200);
    const html = await response.text();
    const csp = response.headers.get('content-security-policy') ?? '';
    const origin = new URL(app.url).origin;
    assert.match(csp, new RegExp(`script-src ${origin}/docs/api/redoc\\.standalone\\.js;`));
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(html, /https?:\/\//, 'the page loads nothing from another host');
    assert.match(html, /<script src="\/docs\/api\/redoc\.standalone\.js" integrity="sha384-[A-Za-z0-9+/=]+"><\/script>/);
  });

  it('serves Redoc from node_modules, cacheable, with 304 on a matching ETag', async () => {
    const response = await fetch(`${app.url}/docs/api/redoc.standalone.js`);
    await assertMatchesContract('GET', '/docs/api/redoc.standalone.js', response);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.ok((await response.text()).length > 100_000);
    const etag = response.headers.get('etag') ?? assert.fail('no ETag');
    const again = await fetch(`${app.url}/docs/api/redoc.standalone.js`, { headers: { 'if-none-match': etag } });
    await assertMatchesContract('GET', '/docs/api/redoc.standalone.js', again);
    assert.equal(again.status, 304);
  });
});

describe('the fonts the dashboard pages ship', () => {
  it('serves each font, cacheable, with 304 on a matching ETag', async () => {
    const response = await fetch(`${app.url}/fonts/ibm-plex-sans-400.ttf`);
    await assertMatchesContract('GET', '/fonts/{file}', response);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'font/ttf');
    assert.equal(response.headers.get('cache-control'), 'public, max-age=86400');
    const bytes = Buffer.from(await response.arrayBuffer());
    assert.equal(bytes.readUInt32BE(0), 0x00010000, 'a TrueType file');
    const etag = response.headers.get('etag') ?? assert.fail('no ETag');
    const again = await fetch(`${app.url}/fonts/ibm-plex-sans-400.ttf`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    const bold = await fetch(`${app.url}/fonts/ibm-plex-sans-700.ttf`);
    assert.equal(bold.status, 200);
    assert.notEqual(bold.headers.get('etag'), etag, 'each file its own ETag');
  });

  it('serves nothing outside its list: unknown, path-like and encoded names get 404', async () => {
    for (const name of [
      'nope.ttf',
      '..%2Fpackage.json',
      '%2E%2E%2F%2E%2E%2Fpackage.json',
      'ibm-plex-sans-400.ttf%00',
      'constructor',
      '__proto__',
    ]) {
      const response = await fetch(`${app.url}/fonts/${name}`);
      assert.equal(response.status, 404, name);
      assert.doesNotMatch(await response.text(), /"name"|dependencies/, name);
    }
  });
});

describe('the API reference in a browser', { skip: browserTests.skip }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  it('renders every operation from the local copy; nothing from another host loads', async () => {
    const page = await browser.newPage();
    const origin = new URL(app.url).origin;
    const local = (url: string) => ['blob:', 'data:'].includes(new URL(url).protocol) || new URL(url).origin === origin;
    const loadedElsewhere: string[] = [];
    const refused: string[] = [];
    page.on('requestfinished', (request) => {
      if (!local(request.url())) loadedElsewhere.push(request.url());
    });
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) refused.push(message.text());
    });
    await page.goto(`${app.url}/docs/api`);
    await page.locator('h2', { hasText: 'Describe this session' }).waitFor({ state: 'attached', timeout: 20_000 });
    assert.match((await page.locator('h1').first().textContent()) ?? '', /lakehouse-mcp/);
    const operations = Object.values(openapi.paths).flatMap((item) => Object.keys(item)).length;
    assert.equal(await page.locator('[data-section-id^="tag/"][data-section-id*="/operation/"]').count(), operations);
    assert.deepEqual(loadedElsewhere, []);
    // Redoc's footer links a logo on its CDN: the policy refuses it, and nothing else.
    assert.ok(
      refused.every((text) => text.includes('https://cdn.redoc.ly/')),
      refused.join('\n'),
    );
    await page.close();
  });
});
