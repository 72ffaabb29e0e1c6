import type { TableDescription } from '../lakehouse.js';
import { tokenize, topLevel, wordsAt, type Token } from './sql-tokens.js';

// optimize_sql's findings (docs/sql-advice.md): what a plan shows that makes a query slow, in plain words, and
// the plan's estimated cost. DuckDB's plans carry estimated rows but no cost: the cost there is every
// operator's estimated output rows summed, a sort counting its input rows again. PostgreSQL's carry the
// planner's total cost.

export type Rule = 'full_scan' | 'select_star' | 'exploding_join' | 'sort_spill' | 'distinct_count' | 'having_filter' | 'subquery_order_by';

export interface Finding {
  rule: Rule;
  message: string;
}

/** A scan reading at least this many rows without a time filter is worth a finding. */
export const FULL_SCAN_ROWS = 100_000;
/** A join at least this many times larger than its larger input, and this large, explodes. */
export const JOIN_FACTOR = 10;
export const JOIN_ROWS = 100_000;
/** count(DISTINCT …) over at least this many rows is worth an estimate instead. */
export const DISTINCT_ROWS = 500_000;
/** A SELECT * of at least this many columns, or of a JSON or nested column, is wide. */
export const WIDE_COLUMNS = 6;
/** Bytes a sorted value takes, about (DuckDB's fixed-size keys and payload; strings longer). */
const BYTES_PER_SORTED_VALUE = 24;
/** PostgreSQL's default work_mem: a sort larger than this spills (the connection's own setting may differ). */
const PG_WORK_MEM_BYTES = 4 * 1024 * 1024;

const n = (value: number) => Math.round(value).toLocaleString('en-US');
const mb = (bytes: number) => `${n(bytes / 1024 / 1024)} MB`;

interface DuckOperator {
  name?: string;
  children?: DuckOperator[];
  extra_info?: Record<string, unknown>;
}

function* walk<T extends { children?: T[] }>(node: T): Generator<T> {
  yield node;
  for (const child of node.children ?? []) yield* walk(child);
}

const text = (value: unknown) =>
  Array.isArray(value) ? value.join(', ') : typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value);

/** An operator's estimated output rows; a sort or cross product without one: from its inputs. */
function duckRows(node: DuckOperator): number {
  const estimate = Number(node.extra_info?.['Estimated Cardinality'] ?? NaN);
  if (Number.isFinite(estimate)) return estimate;
  const children = node.children ?? [];
  if (node.name === 'CROSS_PRODUCT' && children.length === 2) return children.reduce((p, c) => p * duckRows(c), 1);
  return children.length > 0 ? Math.max(...children.map(duckRows)) : 0;
}

const isScan = (node: DuckOperator) => /SCAN|READ_/.test(node.name ?? '') && node.name !== 'CTE_SCAN' && node.name !== 'COLUMN_DATA_SCAN';
const isJoin = (node: DuckOperator) => /JOIN|CROSS_PRODUCT/.test(node.name ?? '') && (node.children?.length ?? 0) === 2;

/** The cost of a DuckDB plan in its unit (`rows`). */
export function duckCost(operators: DuckOperator[]): number {
  let cost = 0;
  for (const root of operators) for (const node of walk(root)) cost += duckRows(node) + (node.name === 'ORDER_BY' ? duckRows(node) : 0);
  return cost;
}

/** What the SQL text says, for the rules the plan cannot tell: the tables it names, SELECT *, HAVING. */
export interface SqlFacts {
  sql: string;
  tokens: Token[];
  /** Words naming tables (after FROM, JOIN or a comma in FROM, or qualified `connection.table`), lower-cased. */
  tableWords: Set<string>;
}

export function sqlFacts(sql: string): SqlFacts {
  const tokens = tokenize(sql);
  const tableWords = new Set<string>();
  tokens.forEach((t, i) => {
    const prev = tokens[i - 1];
    if (
      (t.kind === 'word' || t.kind === 'quoted') &&
      prev &&
      (prev.upper === 'FROM' || prev.upper === 'JOIN' || prev.text === ',' || prev.text === '.')
    )
      tableWords.add(t.text.replace(/^"|"$/g, '').toLowerCase());
  });
  return { sql, tokens, tableWords };
}

const timeColumns = (table: TableDescription) => table.columns.filter((c) => /TIMESTAMP|DATE/i.test(c.type)).map((c) => c.name);

/** The findings of a DuckDB plan. `tables`: the tables the statement may read; `memoryMb`: the worker's limit. */
export function duckFindings(operators: DuckOperator[], facts: SqlFacts, tables: TableDescription[], memoryMb: number): Finding[] {
  const findings: Finding[] = [];
  const named = tables.filter((t) => facts.tableWords.has(t.name.toLowerCase()));
  const nodes = operators.flatMap((root) => [...walk(root)]);

  for (const scan of nodes.filter(isScan)) {
    const rows = duckRows(scan);
    if (rows < FULL_SCAN_ROWS) continue;
    const projected = text(scan.extra_info?.Projections).split(/,\s*/).filter(Boolean);
    const table = named.find((t) => projected.every((p) => t.columns.some((c) => c.name === p)) && timeColumns(t).length > 0);
    if (!table) continue;
    const filters = text(scan.extra_info?.Filters);
    const times = timeColumns(table);
    if (times.some((c) => filters.includes(c))) continue;
    const time = times[0] as string;
    findings.push({
      rule: 'full_scan',
      message: `Reads all ~${n(rows)} rows of ${table.name}: a filter on ${time} (e.g. ${time} >= now() - INTERVAL 30 DAY) reads only the row groups in that range.`,
    });
  }

  for (const join of nodes.filter(isJoin)) {
    const [left, right] = (join.children ?? []).map(duckRows) as [number, number];
    const rows = duckRows(join);
    const larger = Math.max(left, right, 1);
    if (rows < JOIN_ROWS || rows < JOIN_FACTOR * larger) continue;
    const on = text(join.extra_info?.Conditions);
    findings.push({
      rule: 'exploding_join',
      message: `The ${join.name === 'CROSS_PRODUCT' ? 'cross join' : 'join'}${on ? ` on ${on.slice(0, 120)}` : ''} of ~${n(left)} and ~${n(right)} rows is estimated at ~${n(rows)} rows (${n(rows / larger)}× its larger input): a join condition is missing or matches many rows on both sides. Join on a unique key, or aggregate one side first.`,
    });
  }

  for (const sort of nodes.filter((node) => node.name === 'ORDER_BY')) {
    const input = sort.children?.[0];
    const rows = input ? duckRows(input) : 0;
    const width = Math.max(1, text(input?.extra_info?.Projections).split(/,\s*/).filter(Boolean).length);
    const bytes = rows * width * BYTES_PER_SORTED_VALUE;
    if (bytes <= (memoryMb * 1024 * 1024) / 2) continue;
    findings.push({
      rule: 'sort_spill',
      message: `Sorts ~${n(rows)} rows of ${width} column${width === 1 ? '' : 's'} (about ${mb(bytes)}) with ${n(memoryMb)} MB of worker memory: it spills to disk. Sort fewer rows (filter or aggregate first) or add a LIMIT (a top-N keeps only N rows).`,
    });
  }

  for (const aggregate of nodes.filter((node) => /AGGREGATE|GROUP_BY/.test(node.name ?? ''))) {
    const aggregates = text(aggregate.extra_info?.Aggregates);
    const rows = aggregate.children?.[0] ? duckRows(aggregate.children[0]) : 0;
    if (!/count\(DISTINCT/i.test(aggregates) || rows < DISTINCT_ROWS) continue;
    findings.push({ rule: 'distinct_count', message: distinctMessage(rows) });
  }

  findings.push(...selectStar(facts, named), ...havingOnGroupKeys(facts));
  return findings;
}

const distinctMessage = (rows: number) =>
  `count(DISTINCT …) over ~${n(rows)} rows keeps every distinct value in memory. If an estimate will do, approx_count_distinct(…) answers within about 2% with little memory (a different answer: not offered as a rewrite).`;

const pgDistinctMessage = (rows: number) =>
  `count(DISTINCT …) over ~${n(rows)} rows sorts every value (PostgreSQL has no approximate count built in). Narrow the range, or count a sample (TABLESAMPLE SYSTEM (1)) if an estimate will do.`;

/** SELECT * (or t.*) in the statement's own select list over a wide table: the answer carries every column. */
function selectStar(facts: SqlFacts, named: TableDescription[]): Finding[] {
  const level = topLevel(facts.tokens, 0, facts.tokens.length, 0);
  const select = level.findIndex(({ token }) => token.upper === 'SELECT');
  const from = level.findIndex(({ token }, k) => k > select && token.upper === 'FROM');
  if (select < 0 || from < 0) return [];
  const star = level.slice(select + 1, from).some(({ token }) => token.text === '*');
  if (!star) return [];
  const wide = named.filter((t) => t.columns.length >= WIDE_COLUMNS || t.columns.some((c) => /JSON|STRUCT|MAP|\[\]/i.test(c.type)));
  if (wide.length === 0) return [];
  const described = wide.map(
    (t) => `${t.name} (${t.columns.length} columns${t.columns.some((c) => /JSON/i.test(c.type)) ? ', JSON among them' : ''})`,
  );
  return [
    {
      rule: 'select_star',
      message: `SELECT * returns every column of ${described.join(' and ')}: name the columns you need, and the answer (and what is read) shrinks. Inside subqueries DuckDB already reads only the columns used.`,
    },
  ];
}

const MAX_HAVINGS = 20;

/** HAVING conditions (AND-ed) without a function call that name a GROUP BY column: WHERE's job. */
function havingOnGroupKeys(facts: SqlFacts): Finding[] {
  const { tokens } = facts;
  const findings: Finding[] = [];
  let seen = 0;
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i]?.upper !== 'HAVING' || tokens[i]?.kind !== 'word') continue;
    // A bound on the work of a hostile statement: real ones have a few.
    if (++seen > MAX_HAVINGS) break;
    const depth = (tokens[i] as Token).depth;
    let end = i + 1;
    while (
      end < tokens.length &&
      (tokens[end] as Token).depth >= depth &&
      !(
        (tokens[end] as Token).depth === depth &&
        ['ORDER', 'LIMIT', 'QUALIFY', 'WINDOW', 'UNION', 'EXCEPT', 'INTERSECT', 'OFFSET'].includes((tokens[end] as Token).upper)
      )
    ) {
      if ((tokens[end] as Token).text === ')' && (tokens[end] as Token).depth === depth) break;
      end++;
    }
    let groupStart = i - 1;
    while (
      groupStart > 0 &&
      !(
        (tokens[groupStart] as Token).depth === depth &&
        wordsAt([{ token: tokens[groupStart] as Token }, { token: tokens[groupStart + 1] as Token }], 0, 'GROUP', 'BY')
      )
    )
      groupStart--;
    if (groupStart <= 0) continue;
    const keys = new Set(
      tokens
        .slice(groupStart + 2, i)
        .filter((t) => t.kind === 'word' || t.kind === 'quoted')
        .map((t) => t.text.toLowerCase()),
    );
    // Split the HAVING condition at its top-level ANDs.
    const parts: Token[][] = [[]];
    for (const t of tokens.slice(i + 1, end)) {
      if (t.depth === depth && t.kind === 'word' && t.upper === 'AND') parts.push([]);
      else parts[parts.length - 1]?.push(t);
    }
    for (const part of parts) {
      const calls = part.some((t, k) => t.kind === 'word' && part[k + 1]?.text === '(');
      const words = part.filter((t) => t.kind === 'word' || t.kind === 'quoted');
      const key = words.find((t) => keys.has(t.text.toLowerCase()));
      if (calls || !key || part.some((t) => t.upper === 'SELECT')) continue;
      const condition = facts.sql.slice(part[0]?.start ?? 0, part[part.length - 1]?.end ?? 0).replace(/\s+/g, ' ');
      findings.push({
        rule: 'having_filter',
        message: `HAVING ${condition.slice(0, 120)} filters on the group key ${key.text}: put it in WHERE. The engine already applies it before grouping (the cost is the same), but WHERE says so and is where every reader looks.`,
      });
    }
  }
  return findings;
}

interface PgNode {
  'Node Type'?: string;
  'Relation Name'?: string;
  'Plan Rows'?: number;
  'Plan Width'?: number;
  'Total Cost'?: number;
  Filter?: string;
  'Sort Key'?: string[];
  Plans?: PgNode[];
}

function* pgWalk(node: PgNode): Generator<PgNode> {
  yield node;
  for (const child of node.Plans ?? []) yield* pgWalk(child);
}

/** The cost of a PostgreSQL plan: the planner's total cost of its top node. */
export const pgCost = (plan: Record<string, unknown>) => Number((plan.Plan as PgNode | undefined)?.['Total Cost'] ?? 0);

/** The findings of a PostgreSQL plan: the rules that need no table description (docs/sql-advice.md). */
export function pgFindings(plan: Record<string, unknown>, facts: SqlFacts): Finding[] {
  const root = plan.Plan as PgNode | undefined;
  if (!root) return [];
  const nodes = [...pgWalk(root)];
  const findings: Finding[] = [];
  for (const scan of nodes.filter((node) => node['Node Type'] === 'Seq Scan' && (node['Plan Rows'] ?? 0) >= FULL_SCAN_ROWS)) {
    findings.push({
      rule: 'full_scan',
      message: `Reads all of ${scan['Relation Name'] ?? 'a table'} (~${n(scan['Plan Rows'] ?? 0)} rows${scan.Filter ? ` kept after ${scan.Filter.slice(0, 120)}` : ''}): a range filter on an indexed column (such as a time column) reads less.`,
    });
  }
  for (const join of nodes.filter((node) => /Nested Loop|Hash Join|Merge Join/.test(node['Node Type'] ?? '') && node.Plans?.length === 2)) {
    const [left, right] = (join.Plans ?? []).map((p) => p['Plan Rows'] ?? 0) as [number, number];
    const rows = join['Plan Rows'] ?? 0;
    const larger = Math.max(left, right, 1);
    if (rows < JOIN_ROWS || rows < JOIN_FACTOR * larger) continue;
    findings.push({
      rule: 'exploding_join',
      message: `The ${join['Node Type']} of ~${n(left)} and ~${n(right)} rows is estimated at ~${n(rows)} rows (${n(rows / larger)}× its larger input): a join condition is missing or matches many rows on both sides. Join on a unique key, or aggregate one side first.`,
    });
  }
  for (const sort of nodes.filter((node) => node['Node Type'] === 'Sort')) {
    const bytes = (sort['Plan Rows'] ?? 0) * (sort['Plan Width'] ?? 0);
    if (bytes <= PG_WORK_MEM_BYTES) continue;
    findings.push({
      rule: 'sort_spill',
      message: `Sorts ~${n(sort['Plan Rows'] ?? 0)} rows (about ${mb(bytes)}), more than PostgreSQL's default work_mem (4 MB): it spills to disk. Sort fewer rows (filter or aggregate first) or add a LIMIT.`,
    });
  }
  const distinct = facts.tokens.some(
    (t, i) => t.upper === 'COUNT' && facts.tokens[i + 1]?.text === '(' && facts.tokens[i + 2]?.upper === 'DISTINCT',
  );
  const largest = Math.max(0, ...nodes.filter((node) => node['Relation Name']).map((node) => node['Plan Rows'] ?? 0));
  if (distinct && largest >= DISTINCT_ROWS) findings.push({ rule: 'distinct_count', message: pgDistinctMessage(largest) });
  findings.push(...havingOnGroupKeys(facts));
  return findings;
}
