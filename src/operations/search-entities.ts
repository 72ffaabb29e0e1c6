import { sql } from 'kysely';
import { withJoinedIdentifiers } from '../docs/identifiers.js';
import { queryWords } from '../docs/search.js';
import { AppError } from '../errors.js';
import type { ToolHandler, ToolIO } from '../generated/handlers.js';
import { BUILT_IN_CONNECTIONS } from '../lakehouse/lakehouse.js';
import { listModels } from '../lakehouse/semantic-models.js';
import type { ToolContext } from './context.js';

// search_entities (issue 17, item 5; docs/agents/find-anything.md): one BM25 ranking, in PostgreSQL with its
// english stemming (as search_docs), over everything of the environment an agent can name: the built-in
// connections' tables and columns, semantic models with their measures and dimensions, insights,
// dashboards, discoveries, memories, and the docs' sections. Every entity is a tsvector of weighted fields:
// A its name or title (counts NAME_WEIGHT times), B tags or a page's title, C what it belongs to or is made
// of, D its description or body. Any query word may match (OR); B also holds words naming the entity's kind
// ("insight", "column"), so that a question naming a kind finds that kind. Assets are read with the environment's id only; the catalog through the
// environment's own DuckDB worker; docs are everyone's. Nothing is stored: no index to keep in step.

type Item = ToolIO['search_entities']['output']['items'][number];
type Kind = Item['kind'];

const K1 = 1.2;
const B = 0.75;
const WEIGHTS = { A: 3, B: 2, C: 1, D: 1 } as const;
/** An entity whose name holds every query word (a name asked for by name) counts this many times. */
const WHOLE_NAME = 2;

/** What each weight of a kind's vector holds, for `matched`. */
const FIELDS: Record<Kind, Partial<Record<'A' | 'B' | 'C' | 'D', string>>> = {
  table: { A: 'name', B: 'kind', C: 'columns', D: 'description' },
  column: { A: 'name', B: 'kind', C: 'table', D: 'description' },
  semantic_model: { A: 'name', B: 'kind', C: 'members', D: 'description' },
  measure: { A: 'name', B: 'kind', C: 'model', D: 'description' },
  dimension: { A: 'name', B: 'kind', C: 'model', D: 'description' },
  insight: { A: 'title', B: 'kind', C: 'sql', D: 'description' },
  dashboard: { A: 'title', B: 'kind', C: 'insights', D: 'description' },
  discovery: { A: 'title', B: 'kind', C: 'sql', D: 'summary' },
  memory: { B: 'tags', C: 'kind', D: 'content' },
  doc: { A: 'heading', B: 'page title', D: 'text' },
};

/** Words naming each kind, in its vector (weight B, C for memories): "the dashboard about…" finds dashboards. */
const KIND_TEXT: Record<Exclude<Kind, 'doc'>, string> = {
  table: 'table',
  column: 'column field',
  semantic_model: 'semantic model',
  measure: 'measure metric',
  dimension: 'dimension',
  insight: 'insight chart',
  dashboard: 'dashboard',
  discovery: 'discovery finding',
  memory: 'memory note',
};

/** An entity described in this process (the catalog and the models), sent to PostgreSQL with its fields. */
interface Given {
  kind: Kind;
  id: string;
  title: string;
  a: string;
  b: string;
  c: string;
  d: string;
}

async function catalogEntities(ctx: ToolContext): Promise<Given[]> {
  const env = ctx.principal.environmentId;
  const options = { timeoutMs: 15_000, signal: ctx.signal };
  const out: Given[] = [];
  for (const connection of BUILT_IN_CONNECTIONS) {
    for (const table of await ctx.lakehouse.describe(env, connection, options)) {
      out.push({
        kind: 'table',
        b: KIND_TEXT.table,
        id: `${connection}.${table.name}`,
        title: `${table.name} (${connection}, ~${table.estimated_rows.toLocaleString('en-US')} rows)`,
        a: table.name,
        c: table.columns.map((c) => c.name).join(' '),
        d: table.description ?? '',
      });
      for (const column of table.columns) {
        out.push({
          kind: 'column',
          b: KIND_TEXT.column,
          id: `${connection}.${table.name}.${column.name}`,
          title: `${table.name}.${column.name} ${column.type}`,
          a: column.name,
          c: table.name,
          d: column.description ?? '',
        });
      }
    }
  }
  for (const { model } of await listModels(ctx.db, env)) {
    const members = [...model.measures, ...model.dimensions].map((m) => m.name);
    out.push({
      kind: 'semantic_model',
      b: KIND_TEXT.semantic_model,
      id: model.name,
      title: model.title ? `${model.title} (${model.name})` : model.name,
      a: `${model.name} ${model.title ?? ''}`,
      c: members.join(' '),
      d: model.description ?? '',
    });
    for (const [kind, members] of [
      ['measure', model.measures],
      ['dimension', model.dimensions],
    ] as const) {
      for (const member of members) {
        out.push({
          kind,
          b: KIND_TEXT[kind],
          id: `${model.name}.${member.name}`,
          title: `${model.name}.${member.name}`,
          a: member.name,
          c: `${model.name} ${model.title ?? ''}`,
          d: member.description ?? '',
        });
      }
    }
  }
  return out;
}

/** Each stem of the query's words mapped back to the first word that gave it, for `matched`. */
async function wordsOfStems(ctx: ToolContext, query: string): Promise<Map<string, string>> {
  const words = [...new Set(query.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? [])].slice(0, 100);
  // A snake_case name is also searched as one word (withJoinedIdentifiers): that stem names it too.
  const texts = words.flatMap((w) => (w.includes('_') ? [w, w.replace(/_/g, '')] : [w]));
  const sources = words.flatMap((w) => (w.includes('_') ? [w, w] : [w]));
  const { rows } = await sql<{ i: string; stem: string }>`
    SELECT i, unnest(tsvector_to_array(to_tsvector('english', w))) AS stem
      FROM unnest(${texts}::text[]) WITH ORDINALITY AS t(w, i) ORDER BY i`.execute(ctx.db);
  const map = new Map<string, string>();
  for (const { i, stem } of rows) if (!map.has(stem)) map.set(stem, sources[Number(i) - 1] ?? stem);
  return map;
}

interface Row {
  kind: Kind;
  id: string;
  title: string;
  score: number;
  hits: string[];
}

export const searchEntities: ToolHandler<'search_entities'> = async ({ query, limit }, ctx) => {
  const words = await queryWords(ctx.db, query);
  if (words.length === 0) {
    const message =
      'has no words to search for (only punctuation or words as common as "the"); name the subject, e.g. "retention" or "checkout"';
    throw new AppError('validation_failed', `search_entities: the query ${message}.`, { violations: [{ location: 'query', message }] });
  }
  const [given, stems] = await Promise.all([catalogEntities(ctx), wordsOfStems(ctx, query)]);
  const env = ctx.principal.environmentId;
  const text = (s: string) => withJoinedIdentifiers(s);
  const column = <K extends keyof Given>(key: K) => given.map((g) => (key === 'a' || key === 'c' ? text(g[key]) : g[key]));
  // Raw SQL: one BM25 over a union of seven sources with weighted tsvectors, as search_docs ranks (src/docs/search.ts).
  const { rows } = await sql<Row>`
    WITH q AS (SELECT DISTINCT unnest(${words}::text[]) AS lexeme),
    given AS (
      SELECT * FROM unnest(${column('kind')}::text[], ${column('id')}::text[], ${column('title')}::text[],
                           ${column('a')}::text[], ${column('b')}::text[], ${column('c')}::text[], ${column('d')}::text[])
               AS g(kind, id, title, a, b, c, d)
    ),
    fields AS (
      SELECT kind, id, title, a, b, c, d FROM given
      UNION ALL SELECT 'insight', id::text, title, title, ${KIND_TEXT.insight}, sql, description FROM insights WHERE environment_id = ${env}
      UNION ALL SELECT 'dashboard', d.id::text, d.title, d.title, ${KIND_TEXT.dashboard},
                       coalesce((SELECT string_agg(i.title, ' ') FROM dashboard_widgets w JOIN insights i ON i.environment_id = w.environment_id AND i.id = w.insight_id
                                  WHERE w.environment_id = d.environment_id AND w.dashboard_id = d.id), ''),
                       d.description
                  FROM dashboards d WHERE d.environment_id = ${env}
      UNION ALL SELECT 'discovery', id::text, title, title, ${KIND_TEXT.discovery}, coalesce(sql, ''), summary
                  FROM discoveries WHERE environment_id = ${env}
      UNION ALL SELECT 'memory', id::text, left(content, 80), '', memory_tags_text(tags), ${KIND_TEXT.memory}, content
                  FROM memories WHERE environment_id = ${env}
    ),
    entities AS (
      SELECT kind, id, title, (length(a) + length(b) + length(c) + length(d))::float8 AS dl,
             setweight(to_tsvector('english', a), 'A') || setweight(to_tsvector('english', b), 'B') ||
             setweight(to_tsvector('english', c), 'C') || setweight(to_tsvector('english', d), 'D') AS v
        FROM fields
      UNION ALL
      SELECT 'doc', s.slug, s.page_title || CASE WHEN s.ordinal > 0 THEN ' — ' || s.heading ELSE '' END,
             (length(s.heading) + length(s.body))::float8, s.search
        FROM doc_sections s
    ),
    stats AS (SELECT count(*)::float8 AS n, avg(dl)::float8 AS avgdl FROM entities),
    hits AS (
      SELECT e.kind, e.id, e.title, e.dl, t.lexeme, t.weights,
             (SELECT sum(CASE w WHEN 'A' THEN ${WEIGHTS.A}::float8 WHEN 'B' THEN ${WEIGHTS.B}::float8 WHEN 'C' THEN ${WEIGHTS.C}::float8 ELSE ${WEIGHTS.D}::float8 END)
                FROM unnest(t.weights) w) AS tf
        FROM entities e CROSS JOIN LATERAL unnest(e.v) t JOIN q ON q.lexeme = t.lexeme
    ),
    df AS (SELECT lexeme, count(*)::float8 AS df FROM hits GROUP BY lexeme)
    SELECT h.kind, h.id, h.title,
           sum(ln(1 + (st.n - df.df + 0.5) / (df.df + 0.5)) * h.tf * (${K1}::float8 + 1)
               / (h.tf + ${K1}::float8 * (1 - ${B}::float8 + ${B}::float8 * h.dl / st.avgdl)))
           * CASE WHEN count(*) FILTER (WHERE 'A' = ANY (h.weights)) = (SELECT count(*) FROM q) THEN ${WHOLE_NAME}::float8 ELSE 1 END AS score,
           array_agg(h.lexeme || ':' || array_to_string(h.weights, '')) AS hits
      FROM hits h JOIN df USING (lexeme) CROSS JOIN stats st
     GROUP BY h.kind, h.id, h.title
     ORDER BY score DESC, h.kind, h.id
     LIMIT ${limit * 4 + 20}`.execute(ctx.db);
  // A doc is one page: its best section stands for it.
  const seen = new Set<string>();
  const items: Item[] = [];
  for (const row of rows) {
    const key = `${row.kind}:${row.id}`;
    if (seen.has(key)) continue;
    seen.add(key);
    items.push({ kind: row.kind, id: row.id, title: row.title, matched: matchedText(row, stems) });
    if (items.length === limit) break;
  }
  return { items };
};

/** `title: retention, week; description: cohort`: each field with the query words found in it, best field first. */
function matchedText(row: Row, stems: Map<string, string>): string {
  const byField = new Map<string, string[]>();
  for (const weight of ['A', 'B', 'C', 'D'] as const) {
    for (const hit of row.hits) {
      const [stem = '', weights = ''] = hit.split(':');
      const word = stems.get(stem) ?? stem;
      if (!weights.includes(weight)) continue;
      const field = FIELDS[row.kind][weight] ?? 'text';
      const list = byField.get(field) ?? [];
      if (!list.includes(word)) list.push(word);
      byField.set(field, list);
    }
  }
  const order = [...stems.values()];
  const inQueryOrder = (list: string[]) => [...list].sort((x, y) => order.indexOf(x) - order.indexOf(y));
  return [...byField].map(([field, list]) => `${field}: ${inQueryOrder(list).join(', ')}`).join('; ');
}
