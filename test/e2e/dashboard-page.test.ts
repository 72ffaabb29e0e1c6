import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import pixelmatch from 'pixelmatch';
import type { Browser, Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { addMember } from '../../src/db/directory.js';
import { browserTests, launchChromium } from '../helpers/browser.js';
import { call, connectClient } from '../helpers/mcp.js';
import { eventually, PASSWORD, startOAuthApp } from '../helpers/oauth.js';
import { serviceToken } from '../helpers/tokens.js';

// Dashboards as web pages (GET /dashboards/{id}) in a real headless Chromium: signed in as a member of the
// environment, the page shows the title, every widget's chart as inline SVG (marks and axis labels checked in
// the DOM) and its rows (checked against query_lakehouse), re-renders with the variables' form, refuses a bad
// value with the form, answers 404 for another environment's dashboard, sends a signed-out browser to sign in
// and back, and runs no script. A screenshot of a dashboard of fixed data is compared with the baseline in
// test/e2e/baselines/ (UPDATE_BASELINES=1 rewrites it).

const { skip } = browserTests;

const BASELINE = path.join(import.meta.dirname, 'baselines', 'dashboard-page.png');
/** Where a mismatching screenshot and its diff go, for inspection. */
const OUTPUT = path.join(import.meta.dirname, '..', '..', '.tmp', 'test-output');
/**
 * The screenshot's tolerance: pixelmatch's per-pixel colour threshold (0 exact … 1 anything; 0.1 is its
 * default, anti-aliasing ignored), and at most this share of differing pixels: text and chart marks are drawn
 * with the shipped font, so what is left is Chromium's rasterization drift between versions.
 */
const PIXEL_THRESHOLD = 0.1;
const MAX_DIFF_RATIO = 0.001;
const VIEWPORT = { width: 1280, height: 900 };

const PLANS_SQL = "SELECT * FROM (VALUES ('Free', 412), ('Pro', 168), ('Team', 95), ('Enterprise', 37)) AS t(plan, users)";
const WEEKS_SQL =
  "SELECT week, orders FROM (VALUES ('W1', 12), ('W2', 18), ('W3', 15), ('W4', 22), ('W5', 27), ('W6', 24)) AS t(week, orders) WHERE orders >= $1 ORDER BY week";
const COUNTRIES_SQL =
  "SELECT * FROM (VALUES ('France', 120, 0.25), ('Japan', 96, 0.2), ('Brazil', 72, 0.15), ('Kenya', 48, 0.1)) AS t(country, users, share) ORDER BY users DESC";
const DEVICES_SQL = 'SELECT device, count(*) AS sessions FROM sessions GROUP BY 1 ORDER BY 1';

let app: Awaited<ReturnType<typeof startOAuthApp>>;
let browser: Browser;
let production: Client;
let fixed: string;
let sampled: string;
let foreign: string;

before(async () => {
  if (skip) return;
  [app, browser] = await Promise.all([startOAuthApp(), launchChromium()]);
  production = await connectClient(`${app.url}/v1`, await serviceToken(app, 'acme/production', ['read', 'write']));
  const insight = (args: Parameters<typeof call<'create_insight'>>[2]) => call(production, 'create_insight', args).then((i) => i.id);
  const plans = await insight({
    title: 'Users by plan',
    sql: PLANS_SQL,
    connection: 'sample',
    chart: { kind: 'bar', x: 'plan', y: 'users' },
  });
  const weeks = await insight({
    title: 'Orders per week',
    sql: WEEKS_SQL,
    connection: 'sample',
    parameters: [{ name: 'min_orders', type: 'integer', default: 0 }],
    chart: { kind: 'line', x: 'week', y: 'orders' },
  });
  const countries = await insight({ title: 'Top countries', sql: COUNTRIES_SQL, connection: 'sample', chart: { kind: 'table' } });
  fixed = (
    await call(production, 'create_dashboard', {
      title: 'Growth review',
      description: 'Fixed figures for the screenshot test.',
      widgets: [
        { insight_id: plans, x: 0, y: 0, w: 6, h: 5 },
        { insight_id: weeks, x: 6, y: 0, w: 6, h: 5 },
        { insight_id: countries, x: 0, y: 5, w: 12, h: 3 },
      ],
      variables: [{ name: 'min_orders', label: 'Minimum orders', default: 0 }],
    })
  ).id;
  const devices = await insight({
    title: 'Sessions by device',
    sql: DEVICES_SQL,
    connection: 'sample',
    chart: { kind: 'bar', x: 'device', y: 'sessions' },
  });
  const gone = await insight({ title: 'An old chart', sql: 'SELECT 1 AS one', connection: 'sample', chart: { kind: 'number' } });
  // Markup in a title and in the data: shown as text, in the HTML and in the chart's SVG alike.
  const hostile = await insight({
    title: 'Labels <img src=x onerror=alert(1)>',
    sql: "SELECT * FROM (VALUES ('<script>alert(1)</script>', 1), ('a&b', 2)) AS t(label, n)",
    connection: 'sample',
    chart: { kind: 'bar', x: 'label', y: 'n' },
  });
  sampled = (
    await call(production, 'create_dashboard', {
      title: 'Sample sessions <script>alert(1)</script>',
      widgets: [
        { insight_id: devices, x: 0, y: 0, w: 8, h: 6 },
        { insight_id: gone, x: 8, y: 0, w: 4, h: 3 },
        { insight_id: hostile, x: 8, y: 3, w: 4, h: 4 },
      ],
    })
  ).id;
  await call(production, 'delete_insight', { id: gone });
  // A dashboard of an environment ada is not a member of.
  const elsewhere = await connectClient(`${app.url}/v1`, await serviceToken(app, 'globex/production', ['read', 'write']));
  // It has members (nina), but not ada.
  await addMember(app.database.db, 'nina@example.com', { organization: 'globex', environment: 'production' }, 'writer');
  const theirs = await call(elsewhere, 'create_insight', {
    title: 'Theirs',
    sql: PLANS_SQL,
    connection: 'sample',
    chart: { kind: 'table' },
  });
  foreign = (
    await call(elsewhere, 'create_dashboard', { title: 'Not yours', widgets: [{ insight_id: theirs.id, x: 0, y: 0, w: 6, h: 3 }] })
  ).id;
  await elsewhere.close();
});
after(async () => {
  await production?.close();
  await browser?.close();
  await app?.close();
});

/** Opens `url` signed out: the sign-in page, then back to `url` signed in as ada. */
async function openSignedIn(page: Page, url: string): Promise<void> {
  await page.goto(url);
  const signIn = new URL(page.url());
  assert.equal(signIn.pathname, '/account/sign-in', 'not signed in: sent to the sign-in page');
  assert.equal(signIn.searchParams.get('next'), new URL(url).pathname + new URL(url).search);
  await page.fill('input[name="email"]', 'ada@example.com');
  await page.fill('input[name="password"]', PASSWORD);
  await Promise.all([page.waitForURL((u) => u.pathname === new URL(url).pathname), page.click('button[type="submit"]')]);
}

const texts = (page: Page, selector: string) => page.locator(selector).allTextContents();

/** The rows of a widget's table, as the page shows them. */
async function tableRows(page: Page, widget: string): Promise<string[][]> {
  const rows = await page.locator(`section.widget[data-insight-id="${widget}"] table.rows tbody tr`).all();
  return Promise.all(rows.map((row) => row.locator('td').allTextContents()));
}

const widgetId = async (page: Page, title: string) =>
  (await page.locator('section.widget', { has: page.locator(`h2:text-is("${title}")`) }).getAttribute('data-insight-id')) ?? '';

async function queryRows(sql: string): Promise<string[][]> {
  const result = await call(production, 'query_lakehouse', { sql, connection: 'sample' });
  return result.rows.map((row) =>
    row.map((v) => (v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v as string | number))),
  );
}

describe('a dashboard as a web page in Chromium', { skip }, () => {
  it('shows the title, charts as SVG and rows as query_lakehouse answers them; the form re-renders with a variable', async () => {
    const context = await browser.newContext({ viewport: VIEWPORT });
    const page = await context.newPage();
    const url = `${app.url}/dashboards/${fixed}`;
    assert.equal((await call(production, 'view_dashboard', { id: fixed })).url, url, 'view_dashboard names the page');
    await openSignedIn(page, url);
    assert.equal(await page.textContent('h1'), 'Growth review');
    assert.match((await page.textContent('main')) ?? '', /Fixed figures for the screenshot test\./);
    assert.deepEqual(await texts(page, 'section.widget h2'), ['Users by plan', 'Orders per week', 'Top countries']);

    const plans = page.locator('section.widget:has(h2:text-is("Users by plan")) figure.chart svg');
    assert.equal(await plans.count(), 1, 'the bar chart is inline SVG');
    assert.equal(await plans.locator('.mark-rect path').count(), 4, 'one bar per plan');
    const planLabels = await plans.locator('.role-axis-label text').allTextContents();
    for (const label of ['Free', 'Pro', 'Team', 'Enterprise', '0', '400'])
      assert.ok(planLabels.includes(label), `axis label ${label}: ${planLabels.join('|')}`);
    assert.deepEqual(await plans.locator('.role-axis-title text').allTextContents(), ['plan', 'users']);

    const weeks = page.locator('section.widget:has(h2:text-is("Orders per week")) figure.chart svg');
    assert.equal(await weeks.locator('.mark-line path').count(), 1, 'one line');
    assert.equal(await weeks.locator('.mark-symbol path').count(), 6, 'a point per week');

    const countries = await widgetId(page, 'Top countries');
    assert.equal(await page.locator(`section.widget[data-insight-id="${countries}"] svg`).count(), 0, 'a table widget is its table');
    assert.deepEqual(await tableRows(page, countries), await queryRows(COUNTRIES_SQL));
    assert.deepEqual(await tableRows(page, await widgetId(page, 'Users by plan')), await queryRows(PLANS_SQL));

    // The variable's form: a GET whose query string re-renders the page.
    assert.equal(await page.inputValue('input[name="min_orders"]'), '0');
    await page.fill('input[name="min_orders"]', '20');
    await Promise.all([page.waitForURL((u) => u.searchParams.get('min_orders') === '20'), page.click('form.variables button')]);
    assert.equal(await page.inputValue('input[name="min_orders"]'), '20');
    const weeksId = await widgetId(page, 'Orders per week');
    assert.deepEqual(await tableRows(page, weeksId), [
      ['W4', '22'],
      ['W5', '27'],
      ['W6', '24'],
    ]);
    assert.equal(await weeks.locator('.mark-symbol path').count(), 3, 'the chart was drawn again with the new value');
    // Each view is audited as the user's (the audit log writes in batches: wait for it).
    const audited = () =>
      app.database.db
        .selectFrom('audit_log')
        .select(['outcome', 'environment_id'])
        .where('operation', '=', 'showDashboardPage')
        .where('actor', '=', `user:${app.directory.ada.id}`)
        .execute();
    await eventually(async () => (await audited()).length >= 2);
    assert.ok((await audited()).every((row) => row.outcome === 'ok' && row.environment_id === app.directory.production.id));
    await context.close();
  });

  it('refuses a bad variable value with the form and its error, answers 404 elsewhere, and runs no script', async () => {
    const context = await browser.newContext({ viewport: VIEWPORT });
    const page = await context.newPage();
    await openSignedIn(page, `${app.url}/dashboards/${fixed}?min_orders=lots`);
    const bad = await page.goto(`${app.url}/dashboards/${fixed}?min_orders=lots`);
    assert.equal(bad?.status(), 400);
    assert.match((await page.textContent('.error')) ?? '', /min_orders.*integer.*"lots" is not a whole number/);
    assert.equal(await page.inputValue('input[name="min_orders"]'), 'lots', 'the form keeps what was typed');
    assert.equal(await page.locator('section.widget').count(), 0, 'no widget ran');
    const unknown = await page.goto(`${app.url}/dashboards/${fixed}?nope=1`);
    assert.equal(unknown?.status(), 400);
    assert.match((await page.textContent('.error')) ?? '', /no variable "nope"; it has min_orders/);

    for (const id of [foreign, '00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const response = await page.goto(`${app.url}/dashboards/${id}`);
      assert.equal(response?.status(), 404, id);
      assert.match((await page.textContent('h1')) ?? '', /Dashboard not found/);
      assert.doesNotMatch((await page.content()) ?? '', /Not yours/);
    }

    const ok = await page.goto(`${app.url}/dashboards/${sampled}`);
    assert.equal(ok?.status(), 200);
    const csp = (await ok?.headerValue('content-security-policy')) ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(csp, /script-src/);
    const html = (await ok?.text()) ?? '';
    assert.doesNotMatch(html, /<script|<img/i, 'no script in the page, and markup in titles and data is text');
    assert.equal(await page.textContent('h1'), 'Sample sessions <script>alert(1)</script>');
    const labels = page.locator('section.widget:has(h2:text-is("Labels <img src=x onerror=alert(1)>")) svg .role-axis-label text');
    assert.ok((await labels.allTextContents()).includes('a&b'));
    assert.equal(await page.locator('script, img').count(), 0);
    // The sample's widget against query_lakehouse, and the deleted insight shown as such.
    const devices = await widgetId(page, 'Sessions by device');
    const expected = await queryRows(DEVICES_SQL);
    assert.deepEqual(await tableRows(page, devices), expected);
    const bars = page.locator(`section.widget[data-insight-id="${devices}"] svg .mark-rect path`);
    assert.equal(await bars.count(), expected.length);
    const gone = page.locator('section.widget[data-deleted="true"]');
    assert.equal(await gone.count(), 1);
    assert.match((await gone.textContent()) ?? '', /An old chart[\s\S]*was deleted/);
    await context.close();
  });

  it('looks like its baseline (fixed data, shipped font, 1280 × 900 viewport)', async (t) => {
    const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1 });
    const page = await context.newPage();
    await openSignedIn(page, `${app.url}/dashboards/${fixed}`);
    // The page's two faces of the shipped font, both loaded (FontFaceSet.check() alone is true with no face at all).
    await page.evaluate('document.fonts.ready');
    const faces = await page.evaluate('[...document.fonts].map((f) => `${f.family} ${f.weight} ${f.status}`).sort()');
    assert.deepEqual(faces, ['IBM Plex Sans 400 loaded', 'IBM Plex Sans 700 loaded']);
    const actual = PNG.sync.read(await page.screenshot({ fullPage: true }));
    await context.close();
    if (process.env.UPDATE_BASELINES === '1' || !fs.existsSync(BASELINE)) {
      assert.ok(process.env.UPDATE_BASELINES === '1', `no baseline at ${BASELINE}: run with UPDATE_BASELINES=1 to write it`);
      fs.mkdirSync(path.dirname(BASELINE), { recursive: true });
      fs.writeFileSync(BASELINE, PNG.sync.write(actual));
      return;
    }
    const expected = PNG.sync.read(fs.readFileSync(BASELINE));
    assert.deepEqual([actual.width, actual.height], [expected.width, expected.height], 'the page has the baseline size');
    const diff = new PNG({ width: expected.width, height: expected.height });
    const differing = pixelmatch(expected.data, actual.data, diff.data, expected.width, expected.height, { threshold: PIXEL_THRESHOLD });
    const ratio = differing / (expected.width * expected.height);
    t.diagnostic(`${differing} pixels (${(ratio * 100).toFixed(3)} %) differ from the baseline`);
    if (ratio > MAX_DIFF_RATIO) {
      fs.mkdirSync(OUTPUT, { recursive: true });
      fs.writeFileSync(path.join(OUTPUT, 'dashboard-page.actual.png'), PNG.sync.write(actual));
      fs.writeFileSync(path.join(OUTPUT, 'dashboard-page.diff.png'), PNG.sync.write(diff));
    }
    assert.ok(ratio <= MAX_DIFF_RATIO, `${differing} pixels (${(ratio * 100).toFixed(2)} %) differ from the baseline; see ${OUTPUT}`);
  });
});
