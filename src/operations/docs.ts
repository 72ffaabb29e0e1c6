import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { withJoinedIdentifiers } from '../docs/identifiers.js';
import { splitSections } from '../docs/sections.js';
import { AppError, notFound } from '../errors.js';
import { queryWords, rankDocs } from '../docs/search.js';
import type { ToolHandler } from '../generated/handlers.js';
import type { Logger } from '../logger.js';

export const searchDocs: ToolHandler<'search_docs'> = async ({ query, limit }, { db }) => {
  const words = await queryWords(db, query);
  if (words.length === 0) {
    const message =
      'has no words to search for (only punctuation or words as common as "how" and "the"); name the subject, e.g. "paginate" or "funnel"';
    throw new AppError('validation_failed', `search_docs: the query ${message}.`, { violations: [{ location: 'query', message }] });
  }
  return { items: await rankDocs(db, words, limit) };
};

export const getDoc: ToolHandler<'get_doc'> = async ({ slug }, { db }) => {
  const doc = await db.selectFrom('docs').select(['slug', 'title', 'body', 'updated_at']).where('slug', '=', slug).executeTakeFirst();
  if (!doc) throw notFound(`No documentation page "${slug}". Find pages with search_docs.`);
  return { slug: doc.slug, title: doc.title, body: doc.body, updated_at: new Date(doc.updated_at).toISOString() };
};

/** A section's words for search_docs: heading (weight A), page title (B), body (D). */
const sectionVector = (heading: string, title: string, body: string) =>
  sql<string>`setweight(to_tsvector('english', ${withJoinedIdentifiers(heading)}), 'A') ||
    setweight(to_tsvector('english', ${withJoinedIdentifiers(title)}), 'B') ||
    setweight(to_tsvector('english', ${withJoinedIdentifiers(body)}), 'D')`;

interface DocFile {
  slug: string;
  title: string;
  body: string;
  hash: string;
}

function readDocs(dir: string, prefix = ''): DocFile[] {
  if (!fs.existsSync(dir)) return [];
  const out: DocFile[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...readDocs(full, `${prefix}${entry.name}/`));
    else if (entry.name.endsWith('.md')) {
      const body = fs.readFileSync(full, 'utf8');
      const slug = `${prefix}${entry.name.slice(0, -3)}`.toLowerCase();
      const title = /^#\s+(.+)$/m.exec(body)?.[1]?.trim() ?? slug;
      out.push({ slug, title, body, hash: crypto.createHash('sha256').update(body).digest('hex') });
    }
  }
  return out;
}

/** Indexes docs/ into Postgres full-text search, page by page and section by section, touching only pages that changed. */
export async function indexDocs(db: Kysely<Database>, dir: string, log: Logger): Promise<void> {
  const files = readDocs(dir);
  const existing = new Map((await db.selectFrom('docs').select(['slug', 'content_hash']).execute()).map((r) => [r.slug, r.content_hash]));
  const changed = files.filter((f) => existing.get(f.slug) !== f.hash);
  const removed = [...existing.keys()].filter((slug) => !files.some((f) => f.slug === slug));
  if (changed.length === 0 && removed.length === 0) return;
  await db.transaction().execute(async (trx) => {
    for (const f of changed) {
      await trx
        .insertInto('docs')
        .values({ slug: f.slug, title: f.title, body: f.body, content_hash: f.hash })
        .onConflict((oc) => oc.column('slug').doUpdateSet({ title: f.title, body: f.body, content_hash: f.hash, updated_at: sql`now()` }))
        .execute();
      await trx.deleteFrom('doc_sections').where('slug', '=', f.slug).execute();
      const sections = splitSections(f.title, f.body);
      if (sections.length > 0) {
        await trx
          .insertInto('doc_sections')
          .values(
            sections.map((s) => ({
              slug: f.slug,
              ordinal: s.ordinal,
              heading: s.heading,
              page_title: f.title,
              body: s.body,
              search: sectionVector(s.heading, f.title, s.body),
            })),
          )
          .execute();
      }
    }
    if (removed.length > 0) await trx.deleteFrom('docs').where('slug', 'in', removed).execute();
  });
  log.info({ changed: changed.length, removed: removed.length }, 'documentation indexed');
}
