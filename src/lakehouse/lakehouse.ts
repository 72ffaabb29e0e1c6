import { createRequire } from 'node:module';
import { AppError, notFound } from '../errors.js';
import type { DuckEngine } from './duckdb/engine.js';
import type { TableStore } from './duckdb/table-store.js';
import { DuckError, type DuckQueryOptions } from './duckdb/worker.js';
import type { DuckRows } from './duckdb/worker-protocol.js';
import { summarizeDuckPlan, summarizePlan } from './plan-summary.js';
import { assertWithinBudget, isLimited, overBudget, UNLIMITED, type ScanBudget } from './scan-budget.js';
import { pgPlanScan, type PlanScan } from './scan-estimate.js';
import type { ResultFile, ResultFormat, ResultStore } from './results/store.js';
import type { Sample } from './sample.js';
import { SqlError, type PostgresSandbox, type QueryResult } from './sandbox.js';
import { checkReadStatement, loadSqlParser, SqlRefused } from './sql-guard.js';
import { quoteIdent, quoteLiteral } from './sql-quote.js';
import { locatedSqlError, sqlProblem, type RawSqlProblem, type SqlProblem } from './sql-error-spot.js';

export type { Column, QueryResult } from './sandbox.js';

// Every query of an agent's data goes through here (Services.lakehouse). The built-in connections run on
// DuckDB in the environment's worker process (duckdb/): `lakehouse`, the environment's own tables, and
// `sample`, the install's generated data; bare names resolve in the named connection first, then in the other.
// External connections are PostgreSQL databases queried under the PostgreSQL sandbox (sandbox.ts).

export const BUILT_IN_CONNECTIONS = ['lakehouse', 'sample'] as const;
export type BuiltInConnection = (typeof BUILT_IN_CONNECTIONS)[number];
export type Dialect = 'duckdb' | 'postgres';

export const isBuiltIn = (connection: string): connection is BuiltInConnection => connection === 'lakehouse' || connection === 'sample';

/** The SQL dialect of a connection: DuckDB for the built-in ones, PostgreSQL for external ones. */
export const dialectOf = (connection: string): Dialect => (isBuiltIn(connection) ? 'duckdb' : 'postgres');

export type BindValue = string | number | boolean | null;

export interface RunOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

export interface QueryOptions extends RunOptions {
  limit: number;
  offset: number;
  maxBytes: number;
  /** Values of $1, $2… */
  values?: BindValue[];
  /**
   * The server's own statement, bounded by what it reads (get_session_context's time ranges): the scan
   * budget does not apply. Never for agents' SQL or SQL built from their input.
   */
  unbudgeted?: boolean;
}

/** explain_sql's estimate against the environment's budget (absent limits: unlimited). */
export interface ScanVerdict {
  rows: number;
  bytes?: number;
  budget_rows?: number;
  budget_bytes?: number;
  over_budget: boolean;
}

/** An environment's scan budget (scan-budget.ts), read for every statement that would run. */
export type ScanBudgets = (environmentId: string) => Promise<ScanBudget>;

export type { SqlProblem } from './sql-error-spot.js';

export interface Validation {
  valid: boolean;
  errors: SqlProblem[];
  statement_type?: 'select' | 'values' | 'with_select';
}

export interface TableDescription {
  name: string;
  description?: string;
  estimated_rows: number;
  columns: { name: string; type: string; nullable: boolean; description?: string }[];
}

export interface ColumnProfile {
  name: string;
  type: string;
  null_fraction?: number;
  distinct_estimate?: number;
  min?: string;
  max?: string;
}

/** A problem of a statement as the engine or the guard reports it: its message, and where it is when it says. */
function rawProblemOf(error: unknown): RawSqlProblem | undefined {
  if (error instanceof SqlRefused) return error.problem;
  if (error instanceof DuckError || error instanceof SqlError)
    return { message: error.message, position: error.position, hint: error.hint };
  return undefined;
}

/**
 * Where a problem's position counts from in `sql`: PostgreSQL's counts in the checked statement, which
 * may be the SQL without its leading comments; the guard's and DuckDB's count in `sql` itself.
 */
function offsetOf(error: unknown, sql: string): number {
  if (!(error instanceof SqlError) || error.position === undefined) return 0;
  return Math.max(0, sql.indexOf(checkReadStatement(sql).text));
}

/** A statement's problem in the caller's SQL: position, line, column and hint. */
function problemOf(error: unknown, sql: string): SqlProblem | undefined {
  const raw = rawProblemOf(error);
  return raw && sqlProblem(raw, sql, offsetOf(error, sql));
}

/** Runs `work` on `sql`; a failure of the statement is answered with its position, line, column and hint. */
async function located<T>(sql: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const problem = problemOf(error, sql);
    if (!problem || (problem.position === undefined && !problem.hint)) throw error;
    throw locatedSqlError(error as AppError, problem);
  }
}

const SQL_PROBLEMS = new Set(['sql_error', 'sql_syntax_error', 'sql_refused', 'permission_denied']);

interface ParseNode {
  [key: string]: unknown;
}
const pgParser = createRequire(import.meta.url)('libpg-query') as { parseSync(sql: string): ParseNode };

/** The highest `$n` a PostgreSQL statement uses (0 when none), from the parser's tree. */
async function highestPgParameter(sql: string): Promise<number> {
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
  walk(pgParser.parseSync(sql));
  return highest;
}

/**
 * Whether every LIMIT, OFFSET and FETCH FIRST of a PostgreSQL statement is a constant (and none is WITH TIES).
 * Only then does the planner cost a Limit by its count: for one it cannot know (a subquery, a parameter) it
 * assumes a tenth of the rows, and the statement would read them all.
 */
async function pgLimitsAreConstant(sql: string): Promise<boolean> {
  await loadSqlParser();
  let constant = true;
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node as ParseNode)) {
      if ((key === 'limitCount' || key === 'limitOffset') && value && typeof value === 'object' && !('A_Const' in value)) {
        constant = false;
      }
      // FETCH FIRST … WITH TIES is costed as its count, but reads the whole group of ties past it.
      if (key === 'limitOption' && value === 'LIMIT_OPTION_WITH_TIES') constant = false;
      walk(value);
    }
  };
  walk(pgParser.parseSync(sql));
  return constant;
}

/** A plan's scan against a budget, as explain_sql shows it. */
function verdict(scan: PlanScan, budget: ScanBudget): ScanVerdict {
  const over = overBudget(scan, budget);
  return {
    rows: scan.rows,
    ...(scan.bytes !== undefined ? { bytes: scan.bytes } : {}),
    ...(budget.rows !== null ? { budget_rows: budget.rows } : {}),
    ...(budget.bytes !== null ? { budget_bytes: budget.bytes } : {}),
    over_budget: over.rows || over.bytes,
  };
}

export class Lakehouse {
  constructor(
    readonly engine: DuckEngine,
    readonly store: TableStore,
    readonly postgres: PostgresSandbox,
    readonly sample: Sample,
    /** Full results kept as files (exports, job results): quota, expiry, lookups. */
    readonly results: ResultStore,
    private readonly budgets: ScanBudgets = async () => UNLIMITED,
  ) {}

  /**
   * Writes the whole result of one read statement to `file` (chosen by the result store, never by the
   * caller) as CSV with a header or Parquet, at most `maxBytes` (then `export_too_large`); answers the rows.
   * The statement passes the same guard as query(). Meant as the writer of ResultStore.write.
   */
  exportTo(
    environmentId: string,
    connection: string,
    sql: string,
    target: { file: string; format: ResultFormat; maxBytes: number },
    options: RunOptions & { values?: BindValue[]; onProgress?: (rowsRead: number) => void },
  ): Promise<{ rows: number }> {
    return located(sql, async () => {
      // An export is a whole scan: the cost guard applies to it as to query().
      const budget = await this.budgets(environmentId);
      if (!isBuiltIn(connection)) {
        if (isLimited(budget)) await this.guardPostgres(environmentId, connection, sql, options, budget);
        return this.postgres.exportTo(environmentId, connection, sql, target, options);
      }
      const result = await this.duck(environmentId, connection, sql, {
        ...options,
        mode: 'export',
        limit: 0,
        maxBytes: 0,
        export: target,
        ...(isLimited(budget) ? { scanBudget: budget } : {}),
      });
      return { rows: result.exported ?? 0 };
    });
  }

  /** One page of a result file of the environment (a job's result): rows from `offset`, capped as query(). */
  async readResult(
    environmentId: string,
    result: ResultFile,
    options: RunOptions & { limit: number; offset: number; maxBytes: number },
  ): Promise<QueryResult> {
    if (result.environmentId !== environmentId) throw notFound('No such result in this environment.');
    const reader = result.format === 'parquet' ? 'read_parquet' : 'read_csv';
    const csv = result.format === 'csv' ? ', header = true, all_varchar = false' : '';
    // The server's own statement over a file already written (and paid for): not the agent's scan.
    const sql = `SELECT * FROM ${reader}(${quoteLiteral(result.file)}${csv})`;
    return this.run(environmentId, 'lakehouse', sql, { ...options, unbudgeted: true });
  }

  /** One read statement; at most `limit` rows from `offset`, and `maxBytes` of them. */
  query(environmentId: string, connection: string, sql: string, options: QueryOptions): Promise<QueryResult> {
    return located(sql, () => this.run(environmentId, connection, sql, options));
  }

  private async run(environmentId: string, connection: string, sql: string, options: QueryOptions): Promise<QueryResult> {
    const budget = options.unbudgeted ? UNLIMITED : await this.budgets(environmentId);
    if (!isBuiltIn(connection)) {
      if (isLimited(budget)) await this.guardPostgres(environmentId, connection, sql, options, budget);
      return this.postgres.query(environmentId, connection, sql, options);
    }
    const started = performance.now();
    // The worker plans the statement against the budget before it runs it, in the same round trip.
    const result = await this.duck(environmentId, connection, sql, {
      ...options,
      mode: 'rows',
      ...(isLimited(budget) ? { scanBudget: budget } : {}),
    });
    return {
      columns: result.columns,
      rows: result.rows,
      row_count: result.rows.length,
      truncated: result.truncated,
      ...(result.truncated ? { next_offset: options.offset + result.rows.length } : {}),
      elapsed_ms: Math.round((performance.now() - started) * 10) / 10,
    };
  }

  /**
   * The plan of one read statement (run too with `analyze`, under the scan budget), a summary in words, and
   * its estimated scan against the environment's budget.
   */
  explain(
    environmentId: string,
    connection: string,
    sql: string,
    options: RunOptions & { analyze: boolean; values?: BindValue[] },
  ): Promise<{ plan: Record<string, unknown>; summary: string; scan?: ScanVerdict }> {
    return located(sql, () => this.plan(environmentId, connection, sql, options));
  }

  private async plan(
    environmentId: string,
    connection: string,
    sql: string,
    options: RunOptions & { analyze: boolean; values?: BindValue[] },
  ): Promise<{ plan: Record<string, unknown>; summary: string; scan?: ScanVerdict }> {
    const budget = await this.budgets(environmentId);
    if (!isBuiltIn(connection)) {
      const checked = checkReadStatement(sql);
      // EXPLAIN ANALYZE runs the statement: planned against the budget first.
      const planned = options.analyze ? await this.guardPostgres(environmentId, connection, sql, options, budget) : undefined;
      const plan = (await this.postgres.explain(environmentId, connection, checked, options)) as Record<string, unknown>;
      const scan = planned ?? pgPlanScan(plan, await pgLimitsAreConstant(checked.text));
      return { plan, summary: summarizePlan(plan, options.analyze), scan: verdict(scan, budget) };
    }
    const result = await this.duck(environmentId, connection, sql, {
      ...options,
      mode: options.analyze ? 'explain_analyze' : 'explain',
      limit: 1,
      offset: 0,
      maxBytes: Infinity,
      ...(isLimited(budget) ? { scanBudget: budget } : {}),
    });
    const plan = options.analyze ? { engine: 'duckdb', profile: result.plan } : { engine: 'duckdb', operators: result.plan };
    return {
      plan,
      summary: summarizeDuckPlan(plan as Parameters<typeof summarizeDuckPlan>[0]),
      ...(result.scan ? { scan: verdict(result.scan, budget) } : {}),
    };
  }

  /**
   * The cost guard of an external connection: PostgreSQL's plan of the statement (one more round trip, only
   * when the environment has a budget), refused when its estimated scan passes the budget. Answers the scan.
   */
  private async guardPostgres(
    environmentId: string,
    connection: string,
    sql: string,
    options: RunOptions & { values?: BindValue[] },
    budget: ScanBudget,
  ): Promise<PlanScan | undefined> {
    if (!isLimited(budget)) return undefined;
    const checked = checkReadStatement(sql);
    const plan = (await this.postgres.explain(environmentId, connection, checked, {
      ...options,
      analyze: false,
    })) as Record<string, unknown>;
    const scan = pgPlanScan(plan, await pgLimitsAreConstant(checked.text));
    assertWithinBudget(scan, budget, 'postgres');
    return scan;
  }

  /** Checks a statement as query() would, without running it: the parser, then the binder or planner. */
  async validate(environmentId: string, connection: string, sql: string, options: RunOptions): Promise<Validation> {
    let statementType: Validation['statement_type'];
    try {
      if (isBuiltIn(connection)) {
        await this.duck(environmentId, connection, sql, { ...options, mode: 'check', limit: 0, offset: 0, maxBytes: 0 });
        statementType = /^\s*with\b/i.test(sql) ? 'with_select' : /^\s*values\b/i.test(sql) ? 'values' : 'select';
      } else {
        const checked = checkReadStatement(sql);
        statementType = checked.statementType;
        await this.postgres.explain(environmentId, connection, checked, { ...options, analyze: false });
      }
    } catch (error) {
      const problem = problemOf(error, sql);
      if (!problem || !(error instanceof AppError && SQL_PROBLEMS.has(error.code))) throw error;
      return { valid: false, errors: [problem], ...(statementType ? { statement_type: statementType } : {}) };
    }
    return { valid: true, errors: [], ...(statementType ? { statement_type: statementType } : {}) };
  }

  /**
   * How many parameters ($1…) a statement takes, checking it as validate() does (unknown tables and columns,
   * type errors) without running it. Throws the statement's problem.
   */
  parameters(environmentId: string, connection: string, sql: string, options: RunOptions): Promise<number> {
    return located(sql, () => this.countParameters(environmentId, connection, sql, options));
  }

  private async countParameters(environmentId: string, connection: string, sql: string, options: RunOptions): Promise<number> {
    if (isBuiltIn(connection)) {
      const result = await this.duck(environmentId, connection, sql, { ...options, mode: 'check', limit: 0, offset: 0, maxBytes: 0 });
      return result.parameters ?? 0;
    }
    const checked = checkReadStatement(sql);
    const highest = await highestPgParameter(checked.text);
    // Planned with every $n bound to NULL (types are inferred at parse time; nothing runs).
    await this.postgres.explain(environmentId, connection, checked, {
      ...options,
      analyze: false,
      values: Array.from({ length: highest }, () => null),
    });
    return highest;
  }

  /** The tables of a built-in connection with their columns, comments and row counts. */
  async describe(environmentId: string, connection: BuiltInConnection, options: RunOptions): Promise<TableDescription[]> {
    const counts =
      connection === 'sample'
        ? this.sample.manifest.row_counts
        : Object.fromEntries((await this.store.tables(environmentId)).map((t) => [t.name, t.rowCount]));
    const result = await this.duck(
      environmentId,
      connection,
      `SELECT v.view_name, v.comment, c.column_name, c.data_type, c.is_nullable, c.comment
       FROM duckdb_views() v JOIN duckdb_columns() c ON c.database_name = v.database_name AND c.schema_name = v.schema_name AND c.table_name = v.view_name
       WHERE NOT v.internal AND v.database_name = ${quoteLiteral(connection)}
       ORDER BY v.view_name, c.column_index`,
      { ...options, mode: 'rows', limit: 100_000, offset: 0, maxBytes: 64 * 1024 * 1024 },
    );
    const tables = new Map<string, TableDescription>();
    for (const [table, comment, column, type, nullable, columnComment] of result.rows as [
      string,
      string | null,
      string,
      string,
      boolean,
      string | null,
    ][]) {
      let t = tables.get(table);
      if (!t) {
        t = { name: table, ...(comment ? { description: comment } : {}), estimated_rows: counts[table] ?? 0, columns: [] };
        tables.set(table, t);
      }
      t.columns.push({ name: column, type, nullable, ...(columnComment ? { description: columnComment } : {}) });
    }
    return [...tables.values()];
  }

  /** A profile of one table's columns: nulls, distinct values (estimated), least and greatest. */
  async profile(
    environmentId: string,
    connection: BuiltInConnection,
    table: TableDescription,
    options: RunOptions,
  ): Promise<ColumnProfile[]> {
    const name = `${quoteIdent(connection)}.main.${quoteIdent(table.name)}`;
    const scalar = (type: string) => !/[[\]{}]|STRUCT|MAP|UNION|JSON|BLOB/i.test(type);
    const parts = table.columns.flatMap((c, i) => {
      const col = quoteIdent(c.name);
      return [
        `count(*) - count(${col}) AS n${i}`,
        scalar(c.type) ? `approx_count_distinct(${col}) AS d${i}` : `NULL AS d${i}`,
        scalar(c.type) ? `min(${col})::VARCHAR AS lo${i}` : `NULL AS lo${i}`,
        scalar(c.type) ? `max(${col})::VARCHAR AS hi${i}` : `NULL AS hi${i}`,
      ];
    });
    const result = await this.duck(environmentId, connection, `SELECT count(*) AS total, ${parts.join(', ')} FROM ${name}`, {
      ...options,
      mode: 'rows',
      limit: 1,
      offset: 0,
      maxBytes: 16 * 1024 * 1024,
    });
    const row = result.rows[0] ?? [];
    const total = Number(row[0] ?? 0);
    // HyperLogLog is off by one or two on a handful of values: count those exactly (cheap when they are few).
    const few = table.columns.flatMap((c, i) => (row[2 + i * 4] !== null && Number(row[2 + i * 4]) < 10_000 ? [i] : []));
    if (few.length > 0) {
      const exact = await this.duck(
        environmentId,
        connection,
        `SELECT ${few.map((i) => `count(DISTINCT ${quoteIdent(table.columns[i]?.name ?? '')})`).join(', ')} FROM ${name}`,
        { ...options, mode: 'rows', limit: 1, offset: 0, maxBytes: 1024 * 1024 },
      );
      few.forEach((i, k) => (row[2 + i * 4] = exact.rows[0]?.[k] ?? null));
    }
    return table.columns.map((c, i) => {
      const [nulls, distinct, min, max] = row.slice(1 + i * 4, 5 + i * 4) as [
        number | string | null,
        number | string | null,
        string | null,
        string | null,
      ];
      return {
        name: c.name,
        type: c.type,
        ...(total > 0 && nulls !== null ? { null_fraction: Math.round((Number(nulls) / total) * 10_000) / 10_000 } : {}),
        ...(distinct !== null ? { distinct_estimate: Number(distinct) } : {}),
        ...(min !== null ? { min: String(min).slice(0, 200) } : {}),
        ...(max !== null ? { max: String(max).slice(0, 200) } : {}),
      };
    });
  }

  /** A table of a built-in connection by name, or not_found naming where to look. */
  async table(environmentId: string, connection: BuiltInConnection, name: string, options: RunOptions): Promise<TableDescription> {
    const found = (await this.describe(environmentId, connection, options)).find((t) => t.name === name);
    if (!found) throw notFound(`No table "${name}" in connection "${connection}". get_connection without "table" lists its tables.`);
    return found;
  }

  async close(): Promise<void> {
    await Promise.all([this.engine.close(), this.postgres.close()]);
  }

  private duck(
    environmentId: string,
    connection: BuiltInConnection,
    sql: string,
    options: DuckQueryOptions & { values?: BindValue[] },
  ): Promise<DuckRows> {
    return this.engine.query(environmentId, sql, { ...options, session: connection });
  }
}
