import { AppError } from '../errors.js';
import type { Lakehouse, QueryResult } from '../lakehouse/lakehouse.js';
import { compact } from './common.js';

// Insights run through the lakehouse (src/lakehouse/lakehouse.ts) as query_lakehouse does: the same checks,
// the same sandbox (a DuckDB worker for the built-in connections, the PostgreSQL sandbox for external ones).
// Parameters are bound as statement parameters ($1, $2…), never pasted into the SQL.

export interface InsightParameter {
  name: string;
  type: 'text' | 'integer' | 'number' | 'boolean' | 'date' | 'timestamp';
  default?: string | number | boolean;
  description?: string;
}

export type Scalar = string | number | boolean;

const MAX_BYTES = 1024 * 1024;

/**
 * Checks an insight's SQL before it is saved, without running it: one read statement that the connection's
 * engine can bind (unknown tables, columns, functions, type errors), and parameters that match the `$n` it uses.
 */
export async function validateInsightSql(
  lakehouse: Lakehouse,
  environmentId: string,
  insight: { sql: string; connection: string; parameters: InsightParameter[] },
  signal?: AbortSignal,
): Promise<void> {
  const highest = await lakehouse.parameters(environmentId, insight.connection, insight.sql, { timeoutMs: 5_000, signal });
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
}

/** One parameter's value as the text sent to the engine (which casts it to the parameter's type), checked against its declared type. */
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

/** An insight run's rows as the tools answer them (render_insight, view_dashboard): no paging fields. */
export const insightData = (data: QueryResult) =>
  compact({
    columns: data.columns,
    rows: data.rows,
    row_count: data.row_count,
    truncated: data.truncated,
    elapsed_ms: data.elapsed_ms,
  });
