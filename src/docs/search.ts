import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { withJoinedIdentifiers } from './identifiers.js';

export interface DocHit {
  slug: string;
  title: string;
  /** The heading of the page's best-matching section (the page title for its introduction). */
  section: string;
  snippet: string;
}

// Okapi BM25 over doc_sections, in SQL on the tsvectors PostgreSQL already keeps (english stemming, stop
// words dropped). Any query word may match (OR): plain questions carry words no page has. Rare words weigh
// more (idf), so "how do I paginate a large result" is about paginating, not about results. A word in a
// heading counts HEADING_WEIGHT times, in the page title PAGE_TITLE_WEIGHT times. A page scores its best
// section plus a tenth of all its sections: the right section of a long page (a tool of the tool
// reference) still wins, and a page about the subject throughout beats a passing mention. A section whose
// heading has every query word counts WHOLE_HEADING times: a tool's name finds its own section, not one that
// mentions it (get_semantic_model, not list_semantic_models). These settings
// won on the question set of test/integration/docs (the comparison is in the search_docs branch's report).
const K1 = 1.2;
const B = 0.75;
const HEADING_WEIGHT = 3;
const PAGE_TITLE_WEIGHT = 2;
const SPREAD = 0.1;
const WHOLE_HEADING = 2;

/** Markdown marks stripped from snippets, so that only matches are in bold; underscores stay (tool names). */
const MARKDOWN_MARKS = '[*`#|]+';

/** The query's stemmed words, as PostgreSQL's english configuration reads them; empty when it has none. */
export async function queryWords(db: Kysely<Database>, query: string): Promise<string[]> {
  const text = withJoinedIdentifiers(query);
  const { rows } = await sql<{ word: string }>`SELECT unnest(tsvector_to_array(to_tsvector('english', ${text}))) AS word`.execute(db);
  return rows.map((r) => r.word);
}

/** Pages for the stemmed `words`, best first, each with its best section and a snippet of it. */
export async function rankDocs(db: Kysely<Database>, words: string[], limit: number): Promise<DocHit[]> {
  // The words OR-ed as a tsquery of quoted lexemes, only for ts_headline's marks.
  const marks = words.map((w) => `'${w.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`).join(' | ');
  const { rows } = await sql<DocHit>`
    WITH q AS (SELECT DISTINCT unnest(${words}::text[]) AS lexeme),
    stats AS (SELECT count(*)::float8 AS n, avg(length(heading) + length(body))::float8 AS avgdl FROM doc_sections),
    hits AS (
      SELECT s.slug, s.ordinal, t.lexeme, (length(s.heading) + length(s.body))::float8 AS dl, 'A' = ANY (t.weights) AS in_heading,
             (SELECT sum(CASE w WHEN 'A' THEN ${HEADING_WEIGHT}::float8 WHEN 'B' THEN ${PAGE_TITLE_WEIGHT}::float8 ELSE 1 END)
                FROM unnest(t.weights) w) AS tf
        FROM doc_sections s CROSS JOIN LATERAL unnest(s.search) t JOIN q ON q.lexeme = t.lexeme
    ),
    df AS (SELECT lexeme, count(*)::float8 AS df FROM hits GROUP BY lexeme),
    scored AS (
      SELECT h.slug, h.ordinal,
             sum(ln(1 + (st.n - df.df + 0.5) / (df.df + 0.5)) * h.tf * (${K1}::float8 + 1)
                 / (h.tf + ${K1}::float8 * (1 - ${B}::float8 + ${B}::float8 * h.dl / st.avgdl)))
             * CASE WHEN count(*) FILTER (WHERE h.in_heading) = (SELECT count(*) FROM q) THEN ${WHOLE_HEADING}::float8 ELSE 1 END AS score
        FROM hits h JOIN df USING (lexeme) CROSS JOIN stats st
       GROUP BY h.slug, h.ordinal
    ),
    pages AS (
      SELECT slug, max(score) + ${SPREAD}::float8 * sum(score) AS score,
             (array_agg(ordinal ORDER BY score DESC, ordinal))[1] AS best
        FROM scored GROUP BY slug
    )
    SELECT p.slug, d.title, s.heading AS section,
           ts_headline('english', regexp_replace(s.heading || ': ' || s.body, ${MARKDOWN_MARKS}, ' ', 'g'), ${marks}::tsquery,
                       'StartSel=**, StopSel=**, MaxWords=30, MinWords=12, MaxFragments=1') AS snippet
      FROM pages p JOIN docs d USING (slug) JOIN doc_sections s ON s.slug = p.slug AND s.ordinal = p.best
     ORDER BY p.score DESC, p.slug
     LIMIT ${limit}`.execute(db);
  return rows.map((r) => ({ ...r, snippet: r.snippet.replace(/\s+/g, ' ').trim() }));
}
