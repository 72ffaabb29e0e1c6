import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { toolCatalogue } from '../../../src/generated/tools.js';
import { DOCS_DIR } from '../../../src/server.js';
import { call, callError, connectClient, startMcpTestServer, type McpTestServer } from '../../helpers/mcp.js';
import { HELD_OUT, QUESTIONS } from './questions.js';

// search_docs through a real MCP client on the real server and database: plain questions find the page
// that answers them, every tool and the sample's data model are findable, answers are compact, and
// queries with nothing to search for get a clear error.

let server: McpTestServer;
let client: Client;
before(async () => {
  server = await startMcpTestServer();
  client = await connectClient(server.mcpUrl, server.tokens.read);
});
after(async () => {
  await client?.close();
  await server?.close();
});

const search = async (query: string, limit = 3) => (await call(client, 'search_docs', { query, limit })).items;

describe('search_docs answers plain questions', () => {
  for (const { q, pages } of [...QUESTIONS, ...HELD_OUT]) {
    it(`"${q}" finds ${pages.join(' or ')} in the top three`, async () => {
      const slugs = (await search(q)).map((item) => item.slug);
      assert.ok(
        slugs.some((slug) => pages.includes(slug)),
        `got ${slugs.join(', ')}`,
      );
    });
  }
});

describe('search_docs covers every tool and the data model', () => {
  for (const tool of toolCatalogue) {
    it(`${tool.name}: its name leads to its section of the tool reference`, async () => {
      const [first] = await search(tool.name, 1);
      assert.deepEqual([first?.slug, first?.section], ['reference/tools', tool.name]);
    });
  }

  it('the sample data model page answers what tables and columns there are, and the planted patterns', async () => {
    const [tables] = await search('what tables are there and which columns do they have', 1);
    assert.equal(tables?.slug, 'agents/data-model');
    const [bot] = await search('scraping bot', 1);
    assert.deepEqual([bot?.slug, bot?.section], ['agents/data-model', 'Planted patterns worth finding']);
  });
});

describe('search_docs answers compactly', () => {
  it('gives page id, title, best section and a short snippet with the matches in bold', async () => {
    const items = await search('how do I paginate a large result', 10);
    assert.ok(items.length > 1 && items.length <= 10);
    const first = items[0]!;
    assert.equal(first.slug, 'agents/paginate-results');
    assert.equal(first.title, 'Paginating a large result');
    assert.ok(['Paginating a large result', 'Fetching the next page'].includes(first.section), first.section);
    assert.match(first.snippet, /\*\*[A-Za-z]+\*\*/);
    for (const item of items) assert.ok(item.snippet.length <= 400, `${item.slug}: ${item.snippet.length} characters`);
    assert.ok(JSON.stringify(items).length < 4000);
  });
});

describe('search_docs on queries with nothing to search for', () => {
  for (const query of ['   ', '?!%% -- ***', 'how do I', "what's the"]) {
    it(`${JSON.stringify(query)} is refused with validation_failed, naming the problem`, async () => {
      const error = await callError(client, 'search_docs', { query });
      assert.equal(error.code, 'validation_failed');
      assert.match(error.message, /no words to search for/);
    });
  }

  it('an empty and a huge query are refused by the schema', async () => {
    for (const query of ['', 'funnel '.repeat(100)]) {
      const error = await callError(client, 'search_docs', { query });
      assert.equal(error.code, 'validation_failed');
      assert.match(error.message, /query/);
    }
  });

  it('words no page has find nothing; markup and quotes are only words', async () => {
    assert.deepEqual(await search('xylophonequartz'), []);
    const items = await search(`funnel'); DROP TABLE docs; -- \\ '' :* & | !`);
    assert.equal(items[0]?.slug, 'agents/funnels');
    assert.equal((await search('funnel')).length > 0, true);
  });
});

describe('the how-to pages', () => {
  const pages = fs.readdirSync(path.join(DOCS_DIR, 'agents')).filter((f) => f.endsWith('.md'));
  const examples = pages.flatMap((page) =>
    [...fs.readFileSync(path.join(DOCS_DIR, 'agents', page), 'utf8').matchAll(/```sql\n([\s\S]*?)```/g)].map((m, i) => ({
      name: `${page} #${i + 1}`,
      sql: m[1]!,
    })),
  );

  it('have SQL examples', () => assert.ok(examples.length >= 10));
  for (const example of examples) {
    it(`${example.name} runs on the sample`, async () => {
      const result = await call(client, 'query_lakehouse', { sql: example.sql, limit: 5 });
      assert.ok(result.row_count > 0, 'answers rows');
    });
  }
});
