import { closingParen, tokenize, topLevel, wordsAt, type Token } from './sql-tokens.js';

// The one rewrite of optimize_sql (docs/sql-advice.md, "subquery_order_by"): an ORDER BY without LIMIT inside a
// subquery whose order nothing can see. SQL gives a subquery's rows no order its reader may rely on, but
// DuckDB keeps it (and sorts): removed only where the reader provably discards it, so that the rewrite
// returns the same rows:
// - the subquery is the operand of IN / EXISTS / ANY / ALL (a set test), or
// - it is in the FROM of a query that groups (GROUP BY) or aggregates to one row (count, sum, … without
//   GROUP BY), and that query has no LIMIT, OFFSET, FETCH, sample or set operation (UNION …);
// and nowhere in the statement is there a window (OVER) or an aggregate whose answer depends on the order of
// its input (string_agg, list, first, arg_max, …). The subquery itself has no LIMIT, OFFSET, FETCH, sample or
// DISTINCT ON (which use its order).

/** Aggregates and functions whose result depends on the order of their input rows. */
const ORDER_SENSITIVE = new Set([
  'LIST',
  'ARRAY_AGG',
  'STRING_AGG',
  'GROUP_CONCAT',
  'LISTAGG',
  'FIRST',
  'LAST',
  'ANY_VALUE',
  'ARBITRARY',
  'ARG_MAX',
  'ARG_MIN',
  'ARGMAX',
  'ARGMIN',
  'MAX_BY',
  'MIN_BY',
  'MODE',
  'APPROX_QUANTILE',
  'RESERVOIR_QUANTILE',
  'JSON_GROUP_ARRAY',
  'JSON_GROUP_OBJECT',
  'JSON_AGG',
  'JSONB_AGG',
  'JSON_OBJECT_AGG',
  'JSONB_OBJECT_AGG',
  'XMLAGG',
  'BIT_STRING_AGG',
  'HISTOGRAM',
]);

/** Aggregates that reduce a query without GROUP BY to one row, whatever the order of their input. */
const ONE_ROW_AGGREGATES = new Set(['COUNT', 'SUM', 'AVG', 'MIN', 'MAX', 'APPROX_COUNT_DISTINCT', 'MEDIAN', 'BOOL_AND', 'BOOL_OR']);

/** Words after which a query's rows are cut or picked by their order. */
const ORDER_USERS = ['LIMIT', 'OFFSET', 'FETCH', 'TOP', 'SAMPLE', 'TABLESAMPLE'];
const SET_OPERATIONS = ['UNION', 'INTERSECT', 'EXCEPT'];

type Level = { token: Token; index: number }[];

/** At most this many subqueries with an ORDER BY are looked at (a bound on the work of a hostile statement). */
const MAX_EXAMINED = 50;

const has = (level: Level, words: string[]) => level.some(({ token }) => token.kind === 'word' && words.includes(token.upper));
const hasPair = (level: Level, a: string, b: string) => level.some((_, k) => wordsAt(level, k, a, b));
const isCall = (tokens: Token[], i: number) => tokens[i]?.kind === 'word' && tokens[i + 1]?.text === '(';

export interface OrderByRemoval {
  /** The rewritten statement. */
  sql: string;
  /** One line per removed ORDER BY, for the answer's `changes`. */
  changes: string[];
}

/** The statement without the ORDER BYs its readers cannot see, or undefined when none can go. */
export function removeUnseenSubqueryOrders(sql: string): OrderByRemoval | undefined {
  const tokens = tokenize(sql);
  const readers = new Map<number, Level>();
  let examined = 0;
  if (tokens.some((t, i) => (t.kind === 'word' && t.upper === 'OVER') || (isCall(tokens, i) && ORDER_SENSITIVE.has(t.upper))))
    return undefined;
  const spans: { start: number; end: number; text: string }[] = [];
  for (let open = 0; open < tokens.length; open++) {
    const paren = tokens[open] as Token;
    if (paren.text !== '(' || paren.kind !== 'punct' || tokens[open + 1]?.upper !== 'SELECT') continue;
    const close = closingParen(tokens, open);
    const inner = topLevel(tokens, open + 1, close, paren.depth + 1);
    const order = inner.findIndex((_, k) => wordsAt(inner, k, 'ORDER', 'BY'));
    if (order < 0 || has(inner, ORDER_USERS) || hasPair(inner, 'DISTINCT', 'ON')) continue;
    if (++examined > MAX_EXAMINED) break;
    if (!readerDiscardsOrder(tokens, open, readers)) continue;
    const start = (inner[order] as { token: Token }).token.start;
    const end = (tokens[close - 1] as Token).end;
    spans.push({ start, end, text: sql.slice(start, end).replace(/\s+/g, ' ') });
  }
  if (spans.length === 0) return undefined;
  let rewritten = sql;
  for (const span of [...spans].sort((a, b) => b.start - a.start)) {
    rewritten = rewritten.slice(0, span.start).replace(/\s+$/, '') + rewritten.slice(span.end);
  }
  return {
    sql: rewritten,
    changes: spans.map((s) => `Removed "${s.text.slice(0, 120)}" from a subquery: its reader does not keep the order.`),
  };
}

/** Whether whoever reads the subquery opening at `open` ignores the order of its rows. */
function readerDiscardsOrder(tokens: Token[], open: number, readers: Map<number, Level>): boolean {
  const before = tokens[open - 1];
  if (before?.kind === 'word' && ['IN', 'EXISTS', 'ANY', 'ALL', 'SOME'].includes(before.upper)) return true;
  const inFrom = before && ((before.kind === 'word' && ['FROM', 'JOIN'].includes(before.upper)) || before.text === ',');
  if (!inFrom) return false;
  // The reading query: the statement, or the parenthesised query around the subquery.
  const depth = (tokens[open] as Token).depth;
  let from = 0;
  let to = tokens.length;
  if (depth > 0) {
    let outer = open - 1;
    while (outer >= 0 && !(tokens[outer]?.text === '(' && tokens[outer]?.depth === depth - 1)) outer--;
    from = outer + 1;
    to = closingParen(tokens, outer);
  }
  let reader = readers.get(from);
  if (!reader) readers.set(from, (reader = topLevel(tokens, from, to, depth)));
  if (has(reader, ORDER_USERS) || has(reader, SET_OPERATIONS)) return false;
  // A comma belongs to the FROM list only when FROM is the last clause word before it.
  const clause = reader
    .filter(
      ({ token, index }) =>
        index < open && token.kind === 'word' && ['SELECT', 'FROM', 'WHERE', 'GROUP', 'HAVING', 'ON'].includes(token.upper),
    )
    .pop();
  if (before.text === ',' && clause?.token.upper !== 'FROM') return false;
  if (hasPair(reader, 'GROUP', 'BY')) return true;
  // No GROUP BY: an aggregate of the select list makes one row.
  const select = reader.findIndex(({ token }) => token.upper === 'SELECT');
  const fromAt = reader.findIndex(({ token }) => token.upper === 'FROM');
  return reader.slice(select + 1, fromAt).some(({ token, index }) => isCall(tokens, index) && ONE_ROW_AGGREGATES.has(token.upper));
}
