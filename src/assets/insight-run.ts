import { createRequire } from 'node:module';
import { AppError } from '../errors.js';
import type { Lakehouse, QueryResult } from '../lakehouse/sandbox.js';
import { checkReadStatement, loadSqlParser } from '../lakehouse/sql-guard.js';

// Insights run through the SQL sandbox (src/lakehouse/) as query_lakehouse does: Lakehouse.query() and
// explain(), the same parser check, the environment's role, a READ ONLY transaction with timeouts and a reset
// connection. Parameters are bound as query parameters ($1, $2…), never pasted into the SQL.

export interface InsightParameter {
  name: string;
  type: 'text' | 'integer' | 'number' | 'boolean' | 'date' | 'timestamp';
  default?: string | number | boolean;
  description?: string;
}

export type Scalar = string | number | boolean;

const MAX_BYTES = 1024 * 1024;

interface ParseNode {
  [key: string]: unknown;
}
const parser = createRequire(import.meta.url)('libpg-query') as { parseSync(sql: string): ParseNode };

/** The highest `$n` the statement uses (0 when none), from the PostgreSQL parser's tree. */
export async function highestParameter(sql: string): Promise<number> {
  await loadSqlParser();
  let highest = 0;
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node as ParseNode)) {
      if (key === 'ParamRef' && value && typeof value === 'object') {
        const n = (value as { number?: unknown }).number;
        if (typeof n === 'number') highest = Math.max(highest, n);
      }
      walk(value);
    }
  };
  walk(parser.parseSync(sql));
  return highest;
}

/**
 * Checks an insight's SQL before it is saved: one read statement (the sandbox's parser), parameters that
 * match the `$n` it uses, and a plan from PostgreSQL (unknown tables, columns, functions, type errors),
 * made as the environment's role without running the statement.
 */
export async function validateInsightSql(
  lakehouse: Lakehouse,
  environmentId: string,
  insight: { sql: string; connection: string; parameters: InsightParameter[] },
  signal?: AbortSignal,
): Promise<void> {
  const checked = checkReadStatement(insight.sql);
  const highest = await highestParameter(checked.text);
  // Exactly one declared parameter per $n: PostgreSQL refuses to bind more values than the statement uses.
  const declared = insight.parameters.length;
  if (highest !== declared) {
    const uses = highest === 0 ? 'no $n' : highest === 1 ? '$1' : `$1 to $${highest}`;
    throw new AppError(
      'invalid_parameters',
      `The SQL uses ${uses} but ${declared} parameter${declared === 1 ? ' is' : 's are'} declared; declare one parameter per $n, in order.`,
    );
  }
  const names = new Set<string>();
  for (const p of insight.parameters) {
    if (names.has(p.name)) throw new AppError('invalid_parameters', `The parameter name "${p.name}" is used twice.`);
    names.add(p.name);
    if (p.default !== undefined) bindValue(p, p.default);
  }
  // Planned with every $n bound to NULL (types are inferred at parse time; nothing runs). GENERIC_PLAN would
  // need the simple query protocol, which user SQL never goes through.
  await lakehouse.explain(environmentId, insight.connection, checked, {
    analyze: false,
    values: Array.from({ length: highest }, () => null),
    timeoutMs: 5_000,
    signal,
  });
}

/** One parameter's value as the text sent to PostgreSQL, checked against its declared type. */
export function bindValue(parameter: InsightParameter, value: Scalar): string {
  const bad = (what: string) =>
    new AppError('invalid_parameters', `Parameter "${parameter.name}" is a ${parameter.type}: ${JSON.stringify(value)} is not ${what}.`);
  switch (parameter.type) {
    case 'text':
      return String(value);
    case 'integer': {
      const text = String(value).trim();
      if (!/^-?\d{1,18}$/.test(text)) throw bad('a whole number');
      return text;
    }
    case 'number': {
      const n = typeof value === 'number' ? value : Number(String(value).trim());
      if (typeof value === 'boolean' || !Number.isFinite(n) || String(value).trim() === '') throw bad('a finite number');
      return String(n);
    }
    case 'boolean':
      if (value === true || value === 'true') return 'true';
      if (value === false || value === 'false') return 'false';
      throw bad('true or false');
    case 'date':
      if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(value)))
        throw bad('a date (YYYY-MM-DD)');
      return value;
    case 'timestamp':
      if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) throw bad('an ISO-8601 timestamp');
      return new Date(value).toISOString();
  }
}

/** The values of an insight's parameters, in order: given ones, else defaults; unknown names are refused. */
export function bindValues(parameters: InsightParameter[], given: Record<string, Scalar>): string[] {
  for (const name of Object.keys(given)) {
    if (!parameters.some((p) => p.name === name)) {
      throw new AppError(
        'invalid_parameters',
        `This insight has no parameter "${name}"; it has ${parameters.map((p) => p.name).join(', ') || 'none'}.`,
      );
    }
  }
  return parameters.map((p) => {
    const value = given[p.name] ?? p.default;
    if (value === undefined) throw new AppError('invalid_parameters', `Parameter "${p.name}" has no default; give it a value.`);
    return bindValue(p, value);
  });
}

/** Runs an insight's SQL in the sandbox with its parameters bound; at most `limit` rows and 1 MiB. */
export async function runInsight(
  lakehouse: Lakehouse,
  environmentId: string,
  insight: { sql: string; connection: string; parameters: InsightParameter[] },
  given: Record<string, Scalar>,
  options: { limit: number; timeoutMs: number; signal?: AbortSignal | undefined },
): Promise<QueryResult> {
  const values = bindValues(insight.parameters, given);
  return lakehouse.query(environmentId, insight.connection, insight.sql, { ...options, values, offset: 0, maxBytes: MAX_BYTES });
}
