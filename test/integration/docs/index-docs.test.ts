import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { queryWords, rankDocs } from '../../../src/docs/search.js';
import { createLogger } from '../../../src/logger.js';
import { indexDocs } from '../../../src/operations/docs.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.js';

// indexDocs keeps doc_sections in step with the Markdown files: a changed page's sections are replaced,
// a removed page's go with it, and search finds only what the files now say.

let test: TestDatabase;
let dir: string;
const log = createLogger('silent');
before(async () => {
  test = await createTestDatabase({ migrate: true });
  await test.db.deleteFrom('docs').execute();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'docs-index-'));
});
after(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
  await test?.drop();
});

const sections = async () =>
  (await test.db.selectFrom('doc_sections').select(['slug', 'heading']).orderBy('slug').orderBy('ordinal').execute()).map(
    (r) => `${r.slug}: ${r.heading}`,
  );
const find = async (query: string) => (await rankDocs(test.db, await queryWords(test.db, query), 5)).map((hit) => hit.slug);

describe('indexDocs', () => {
  it('indexes every page section by section', async () => {
    fs.mkdirSync(path.join(dir, 'guides'));
    fs.writeFileSync(path.join(dir, 'guides', 'walrus.md'), '# Walruses\n\nTusks.\n\n## Feeding\n\nClams.\n');
    fs.writeFileSync(path.join(dir, 'otter.md'), '# Otters\n\n## Tools\n\nStones.\n');
    await indexDocs(test.db, dir, log);
    assert.deepEqual(await sections(), ['guides/walrus: Walruses', 'guides/walrus: Feeding', 'otter: Tools']);
    assert.deepEqual(await find('what do they eat, clams?'), ['guides/walrus']);
  });

  it('replaces the sections of a changed page and drops those of a removed one', async () => {
    fs.writeFileSync(path.join(dir, 'guides', 'walrus.md'), '# Walruses\n\n## Diving\n\nDeep.\n');
    fs.rmSync(path.join(dir, 'otter.md'));
    await indexDocs(test.db, dir, log);
    assert.deepEqual(await sections(), ['guides/walrus: Diving']);
    assert.deepEqual(await find('clams'), []);
    assert.deepEqual(await find('stones'), []);
    assert.deepEqual(await find('diving deep'), ['guides/walrus']);
  });
});
