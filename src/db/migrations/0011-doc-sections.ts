import { sql, type Kysely } from 'kysely';

// search_docs ranks sections, not whole pages (issue 16, item 5): a question about one tool must find its
// section of the long tool reference. Each row is one `##`/`###` section of a docs page (the text before the
// first heading is section 0, under the page title). `search` is written by indexDocs (src/docs/): heading
// (weight A), page title (B) and body (D), with snake_case names also as one word. Clearing content_hash makes the next start index every page into sections.
const statements = [
  `CREATE TABLE doc_sections (
     slug text NOT NULL REFERENCES docs (slug) ON DELETE CASCADE,
     ordinal integer NOT NULL CHECK (ordinal >= 0),
     heading text NOT NULL,
     page_title text NOT NULL,
     body text NOT NULL,
     search tsvector NOT NULL,
     PRIMARY KEY (slug, ordinal)
   )`,
  `CREATE INDEX doc_sections_search_idx ON doc_sections USING gin (search)`,
  `UPDATE docs SET content_hash = ''`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL; generated columns read more clearly as SQL than in the schema builder.
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Raw SQL: DDL, the reverse of up().
  await sql`DROP TABLE IF EXISTS doc_sections`.execute(db);
}
