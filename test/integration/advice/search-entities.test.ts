import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ToolIO } from '../../../src/generated/handlers.js';
import { createLogger } from '../../../src/logger.js';
import { indexDocs } from '../../../src/operations/docs.js';
import { DOCS_DIR } from '../../../src/server.js';
import { startAssetHarness, type AssetHarness } from '../assets/harness.js';
import { call, callError } from '../../helpers/mcp.js';

// search_entities as an agent asks it: plain questions against the sample's catalog, the built-in semantic
// models, the docs and assets created here, each expecting the right entity among the first three; and
// never another environment's assets.

type Item = ToolIO['search_entities']['output']['items'][number];

let h: AssetHarness;
const ids: Record<string, string> = {};
before(async () => {
  h = await startAssetHarness();
  // The harness's servers share its database, so none of them indexed the docs.
  await indexDocs(h.database.db, DOCS_DIR, createLogger('silent'));
  const a = h.clients.a;
  ids.retention = (
    await call(a, 'create_insight', {
      title: 'Week-1 retention by signup cohort',
      description: 'Share of each weekly signup cohort that comes back in the week after signing up.',
      sql: "SELECT date_trunc('week', signed_up_at) AS cohort, count(*) AS users FROM users GROUP BY 1 ORDER BY 1",
      connection: 'sample',
      chart: { kind: 'line', x: 'cohort', y: 'users' },
    })
  ).id;
  ids.signups = (
    await call(a, 'create_insight', {
      title: 'Daily signups',
      sql: "SELECT date_trunc('day', occurred_at) AS day, count(*) AS n FROM events WHERE event = 'signup' GROUP BY 1 ORDER BY 1",
      connection: 'sample',
      chart: { kind: 'line', x: 'day', y: 'n' },
    })
  ).id;
  ids.checkout = (
    await call(a, 'create_dashboard', {
      title: 'Checkout health',
      description: 'Checkout starts, purchases and checkout_503 errors around the outage.',
      widgets: [{ insight_id: ids.signups, x: 0, y: 0, w: 6, h: 4 }],
    })
  ).id;
  ids.bot = (
    await call(a, 'create_discovery', {
      title: 'A scraping bot: user 4242',
      summary: 'User 4242 made 25,000 page views and searches in one day, without a session.',
      severity: 'warning',
    })
  ).id;
  ids.testAccounts = (
    await call(a, 'create_memory', {
      content: "Revenue figures leave out test accounts: filter users with plan = 'internal' before summing amounts.",
      type: 'semantic',
      importance: 0.8,
      tags: ['revenue', 'test-accounts'],
    })
  ).id;
  // Another environment's assets, with a word only they have.
  ids.foreignInsight = (
    await call(h.clients.b, 'create_insight', { title: 'Zebracorn churn', sql: 'SELECT 1', connection: 'sample', chart: { kind: 'table' } })
  ).id;
  ids.foreignMemory = (
    await call(h.clients.b, 'create_memory', { content: 'Zebracorn churn is seasonal.', type: 'semantic', importance: 1 })
  ).id;
});
after(async () => {
  await h?.close();
});

const search = async (query: string, limit?: number): Promise<Item[]> =>
  (await call(h.clients.reader, 'search_entities', { query, ...(limit ? { limit } : {}) })).items;

/** Questions worded as an agent asks them, and the entity that answers each. */
const QUESTIONS: { q: string; kind: Item['kind']; id: () => string }[] = [
  { q: 'find the insight about weekly retention', kind: 'insight', id: () => ids.retention as string },
  { q: 'checkout dashboard', kind: 'dashboard', id: () => ids.checkout as string },
  { q: 'which user is a scraping bot', kind: 'discovery', id: () => ids.bot as string },
  { q: 'should revenue include test accounts', kind: 'memory', id: () => ids.testAccounts as string },
  { q: 'column for when an event occurred', kind: 'column', id: () => 'sample.events.occurred_at' },
  { q: 'distinct users who purchased', kind: 'measure', id: () => 'product_events.purchasers' },
  { q: 'revenue measure', kind: 'measure', id: () => 'product_events.revenue' },
  { q: 'table of users with their plan and country', kind: 'table', id: () => 'sample.users' },
  { q: 'how do I paginate a large result', kind: 'doc', id: () => 'agents/paginate-results' },
  { q: 'semantic model of users', kind: 'semantic_model', id: () => 'product_users' },
  { q: 'paying users dimension', kind: 'dimension', id: () => 'product_users.paying' },
];

describe('search_entities', () => {
  for (const { q, kind, id } of QUESTIONS) {
    it(`"${q}" finds the ${kind} in the top 3`, async () => {
      const items = await search(q);
      const at = items.findIndex((item) => item.kind === kind && item.id === id());
      assert.ok(at >= 0 && at < 3, `${kind} ${id()} at ${at}: ${JSON.stringify(items.slice(0, 5))}`);
    });
  }

  it('says why each hit matched: the field and the query words found in it', async () => {
    const [top] = await search('retention cohort insight');
    assert.deepEqual([top?.kind, top?.id, top?.title], ['insight', ids.retention, 'Week-1 retention by signup cohort']);
    assert.equal(top?.matched, 'title: retention, cohort; kind: insight; sql: cohort; description: cohort');
    const column = (await search('occurred_at')).find((item) => item.id === 'sample.events.occurred_at');
    assert.match(column?.matched ?? '', /^name: occurred_at/);
  });

  it("never shows another environment's assets", async () => {
    const mine = await search('zebracorn churn', 50);
    assert.ok(!mine.some((item) => item.id === ids.foreignInsight || item.id === ids.foreignMemory), JSON.stringify(mine));
    const theirs = (await call(h.clients.b, 'search_entities', { query: 'zebracorn churn' })).items;
    assert.deepEqual(
      theirs
        .slice(0, 2)
        .map((item) => item.id)
        .sort(),
      [ids.foreignInsight, ids.foreignMemory].sort(),
    );
    assert.ok(
      !(await call(h.clients.b, 'search_entities', { query: 'scraping bot', limit: 50 })).items.some((item) => item.id === ids.bot),
    );
  });

  it('keeps answers compact: 10 by default, at most 50, one hit per doc page', async () => {
    const many = await search('users events');
    assert.equal(many.length, 10);
    const most = await search('users events plan country signup purchase', 50);
    assert.ok(most.length > 10 && most.length <= 50);
    const docs = most.filter((item) => item.kind === 'doc').map((item) => item.id);
    assert.equal(new Set(docs).size, docs.length);
    assert.equal((await callError(h.clients.reader, 'search_entities', { query: 'users', limit: 51 })).code, 'validation_failed');
    assert.equal((await callError(h.clients.reader, 'search_entities', { query: 'the and of' })).code, 'validation_failed');
    assert.deepEqual(await search('xylophonequartz'), []);
  });

  it('answers over REST with a read token', async () => {
    const response = await fetch(`${h.servers.a.url}/api/v1/search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${h.servers.a.tokens.read}` },
      body: JSON.stringify({ query: 'checkout dashboard', limit: 3 }),
    });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { items: Item[] };
    assert.equal(body.items[0]?.id, ids.checkout);
  });
});
