import fs from 'node:fs';
import path from 'node:path';
import type { ValidateFunction } from 'ajv';
import { sql, type Kysely } from 'kysely';
import YAML from 'yaml';
import type { Database } from '../db/schema.js';
import { AppError, notFound } from '../errors.js';
import type { SemanticModel } from '../generated/tool-types.js';
import validators from '../generated/validators.cjs';
import { quoteIdent } from './sql-quote.js';
import { dialectOf, type BindValue, type Dialect, type Lakehouse } from './lakehouse.js';
import { checkExpression, checkReadStatement, SqlRefused } from './sql-guard.js';
import { RANGE_FORMS, UnknownRange } from '../time/relative-range.js';
import { CODE_DIR } from '../package-paths.js';

export type { SemanticModel } from '../generated/tool-types.js';

// Semantic models (specs/schemas/semantic-model.yaml): stored per environment (`semantic_models`), plus the
// built-in models of the sample data, which every environment has, like the `sample` connection itself.
// A query is compiled to SQL from the model alone: names in a request are only looked up in it, the SQL's
// identifiers are the model's (quoted) and its expressions the model's (each checked to be one expression
// when the model is read), and every value of the request is a bind parameter.

const validateModel = validators.schema_semantic_model as ValidateFunction<SemanticModel>;

/** A model document that breaks the schema or the rules beyond it; `problems` say where. */
export class InvalidModel extends AppError {
  constructor(readonly problems: string[]) {
    super('invalid_model', `The semantic model is not valid: ${problems.join('; ')}`);
  }
}

/**
 * Schema (precompiled validator) and rules a schema cannot say: unique names, count without expr, and (unless
 * `expressions` is false) each expression one SQL expression, by the PostgreSQL parser (loadSqlParser first).
 */
export function checkModel(doc: unknown, expressions = true): SemanticModel {
  if (!validateModel(doc)) {
    throw new InvalidModel((validateModel.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`));
  }
  const model = doc;
  const problems: string[] = [];
  const unique = (kind: string, names: string[]) => {
    const seen = new Set<string>();
    for (const name of names) {
      if (seen.has(name)) problems.push(`${kind} "${name}" is defined twice`);
      seen.add(name);
    }
  };
  unique('dimension or measure', [...model.dimensions.map((d) => d.name), ...model.measures.map((m) => m.name)]);
  unique('table alias', [model.alias ?? model.table, ...(model.joins ?? []).map((j) => j.name)]);
  const onDuckDb = dialectOf(model.connection) === 'duckdb';
  const expression = (where: string, expr: string | undefined) => {
    if (expr === undefined || !expressions) return;
    try {
      checkExpression(expr, { functions: !onDuckDb });
    } catch (error) {
      if (error instanceof SqlRefused) problems.push(`${where}: ${error.message}`);
      else throw error;
    }
  };
  if (model.event_table && !onDuckDb) {
    problems.push(`event_table: the analytics tools read built-in connections (sample, lakehouse) only, not "${model.connection}"`);
  }
  for (const d of model.dimensions) expression(`dimension ${d.name}`, d.expr);
  for (const m of model.measures) {
    if (m.agg !== 'count' && m.expr === undefined) problems.push(`measure ${m.name}: ${m.agg} needs an expr`);
    expression(`measure ${m.name}`, m.expr);
    expression(`measure ${m.name} filter`, m.filter);
  }
  if (problems.length > 0) throw new InvalidModel(problems);
  return model;
}

/** Reads a model file (YAML or JSON). */
export function readModelFile(file: string): unknown {
  const text = fs.readFileSync(file, 'utf8');
  try {
    return file.endsWith('.json') ? (JSON.parse(text) as unknown) : (YAML.parse(text) as unknown);
  } catch (error) {
    throw new InvalidModel([
      `${path.basename(file)} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${error instanceof Error ? error.message : String(error)}`,
    ]);
  }
}

const BUILT_IN_FILE = path.join(CODE_DIR, 'lakehouse', 'sample-semantic-models.yaml');
let builtIns: readonly SemanticModel[] | undefined;

/** The built-in models' documents as shipped (the tests check their expressions too). */
export function builtInModelDocuments(): unknown[] {
  return YAML.parse(fs.readFileSync(BUILT_IN_FILE, 'utf8')) as unknown[];
}

/**
 * The models of the sample data, in every environment (read once per process). Checked against the schema
 * here; their expressions are ours and checked by the tests, so no request waits for the SQL parser.
 */
export function builtInModels(): readonly SemanticModel[] {
  builtIns ??= builtInModelDocuments().map((doc) => checkModel(doc, false));
  return builtIns;
}

export interface FoundModel {
  model: SemanticModel;
  builtIn: boolean;
  version: number;
}

export async function listModels(db: Kysely<Database>, environmentId: string): Promise<FoundModel[]> {
  const rows = await db
    .selectFrom('semantic_models')
    .select(['definition', 'version'])
    .where('environment_id', '=', environmentId)
    .orderBy('name')
    .execute();
  return [
    ...builtInModels().map((model) => ({ model, builtIn: true, version: 1 })),
    ...rows.map((r) => ({ model: r.definition, builtIn: false, version: r.version })),
  ];
}

export async function findModel(db: Kysely<Database>, environmentId: string, name: string): Promise<FoundModel> {
  const builtIn = builtInModels().find((m) => m.name === name);
  if (builtIn) return { model: builtIn, builtIn: true, version: 1 };
  const row = await db
    .selectFrom('semantic_models')
    .select(['definition', 'version'])
    .where('environment_id', '=', environmentId)
    .where('name', '=', name)
    .executeTakeFirst();
  if (!row) throw notFound(`No semantic model "${name}" in this environment. list_semantic_models names them.`);
  return { model: row.definition, builtIn: false, version: row.version };
}

export interface AppliedModel {
  name: string;
  version: number;
  status: 'created' | 'updated' | 'unchanged';
}

/**
 * Stores a checked model for an environment: created, or replaced with its version one higher when the
 * definition changed. `plan` (the sandbox's EXPLAIN of a query of every dimension and measure) runs first,
 * so a model naming a missing table or column is refused and nothing is stored.
 */
export async function applyModel(
  db: Kysely<Database>,
  environmentId: string,
  doc: unknown,
  plan?: (compiled: CompiledQuery, model: SemanticModel) => Promise<void>,
): Promise<AppliedModel> {
  const model = checkModel(doc);
  if (builtInModels().some((m) => m.name === model.name)) {
    throw new InvalidModel([`"${model.name}" is a built-in model of the sample data; give yours another name`]);
  }
  if (plan) {
    await plan(
      compileQuery(model, {
        model: model.name,
        measures: model.measures.map((m) => m.name),
        dimensions: model.dimensions.map((d) => d.name),
      }),
      model,
    );
  }
  return db.transaction().execute(async (trx) => {
    const definition = JSON.parse(JSON.stringify(model)) as SemanticModel;
    const existing = await trx
      .selectFrom('semantic_models')
      .select(['version', sql<boolean>`definition = ${JSON.stringify(definition)}::jsonb`.as('same')])
      .where('environment_id', '=', environmentId)
      .where('name', '=', model.name)
      .forUpdate()
      .executeTakeFirst();
    if (!existing) {
      await trx.insertInto('semantic_models').values({ environment_id: environmentId, name: model.name, definition }).execute();
      return { name: model.name, version: 1, status: 'created' as const };
    }
    // jsonb equality: key order and whitespace do not make a new version.
    if (existing.same) {
      return { name: model.name, version: existing.version, status: 'unchanged' as const };
    }
    const version = existing.version + 1;
    await trx
      .updateTable('semantic_models')
      .set({ definition, version, updated_at: new Date() })
      .where('environment_id', '=', environmentId)
      .where('name', '=', model.name)
      .execute();
    return { name: model.name, version, status: 'updated' as const };
  });
}

/**
 * The planner check of applyModel: the connection's engine binds (nothing runs) a query of every dimension
 * and measure in the environment's sandbox, so a missing table or column, a type error or a table the
 * environment may not read refuses the model.
 */
export function planInSandbox(lakehouse: Lakehouse, environmentId: string) {
  return async (compiled: CompiledQuery, model: SemanticModel): Promise<void> => {
    const refuse = (what: string) => (error: unknown) => {
      throw new InvalidModel([`${what} on connection "${model.connection}": ${error instanceof Error ? error.message : String(error)}`]);
    };
    await lakehouse.parameters(environmentId, model.connection, compiled.sql, { timeoutMs: 10_000 }).catch(refuse('it does not plan'));
    if (model.event_table) {
      // The event table's columns exist, so that the analytics tools fail on no model that was accepted.
      const { user, time, event, properties } = model.event_table;
      const columns = [user, time, event, ...(properties === undefined ? [] : [properties])].map(quoteIdent).join(', ');
      const probe = `SELECT ${columns} ${modelFrom({ ...model, joins: [] }).join(' ')} LIMIT 0`;
      await lakehouse.parameters(environmentId, model.connection, probe, { timeoutMs: 10_000 }).catch(refuse('event_table does not plan'));
    }
  };
}

// ---- Compiling a query ----

export type Granularity = 'hour' | 'day' | 'week' | 'month' | 'quarter' | 'year';
export type FilterOp =
  | 'eq'
  | 'neq'
  | 'gt'
  | 'gte'
  | 'lt'
  | 'lte'
  | 'between'
  | 'in'
  | 'not_in'
  | 'contains'
  | 'starts_with'
  | 'is_null'
  | 'is_not_null'
  | 'during';
type Scalar = string | number | boolean;

export interface ModelQuery {
  model: string;
  measures?: string[];
  dimensions?: (string | { name: string; granularity?: Granularity })[];
  filters?: { field: string; op: FilterOp; value?: Scalar; values?: Scalar[] }[];
  order?: { field: string; direction?: 'asc' | 'desc' }[];
  limit?: number;
}

export interface CompiledQuery {
  sql: string;
  values: BindValue[];
  /** Each `during` filter's phrase as the absolute [from, to) it ran with. */
  timeRanges: ResolvedTimeRange[];
}

export interface ResolvedTimeRange {
  field: string;
  during: string;
  /** ISO 8601 with the environment's offset; inclusive. */
  from: string;
  /** Exclusive. */
  to: string;
}

/** Resolves a `during` phrase (src/time/relative-range.ts, in the environment's zone); throws UnknownRange. */
export type RangeResolver = (phrase: string) => { from: string; to: string };

type FieldType = 'string' | 'number' | 'time' | 'boolean';

/** Operators by the type of what they compare (measures compare as numbers). */
const OPERATORS: Record<FieldType, readonly FilterOp[]> = {
  string: ['eq', 'neq', 'in', 'not_in', 'contains', 'starts_with', 'is_null', 'is_not_null'],
  number: ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'between', 'in', 'not_in', 'is_null', 'is_not_null'],
  time: ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'between', 'during', 'is_null', 'is_not_null'],
  boolean: ['eq', 'neq', 'is_null', 'is_not_null'],
};

/** The parameter's type in SQL, per dialect: a value is always sent as `$n::<cast>`, so the engine never guesses. */
const CASTS: Record<Dialect, Record<FieldType, string>> = {
  postgres: { string: 'text', number: 'numeric', time: 'timestamptz', boolean: 'boolean' },
  duckdb: { string: 'VARCHAR', number: 'DOUBLE', time: 'TIMESTAMPTZ', boolean: 'BOOLEAN' },
};

const COMPARISONS: Partial<Record<FilterOp, string>> = { eq: '=', neq: '<>', gt: '>', gte: '>=', lt: '<', lte: '<=' };

const GRANULARITIES: Record<Granularity, string> = {
  hour: "'hour'",
  day: "'day'",
  week: "'week'",
  month: "'month'",
  quarter: "'quarter'",
  year: "'year'",
};

const ISO_TIME = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$/;

const invalid = (message: string) => new AppError('invalid_query', message);
const names = (items: { name: string }[]) => items.map((i) => i.name).join(', ');

/** Date.parse rolls 2024-02-30 over to March 1; PostgreSQL refuses it. Check the date part exists. */
function isCalendarDate(value: string): boolean {
  const [year, month, day] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day));
  return (
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    !Number.isNaN(Date.parse(value.replace(' ', 'T')))
  );
}

function checkValue(type: FieldType, field: string, value: Scalar | undefined): Scalar {
  if (value === undefined) throw invalid(`The filter on "${field}" needs a value.`);
  const ok =
    type === 'string'
      ? typeof value === 'string'
      : type === 'number'
        ? typeof value === 'number'
        : type === 'boolean'
          ? typeof value === 'boolean'
          : typeof value === 'string' && ISO_TIME.test(value) && isCalendarDate(value);
  if (!ok) {
    const expected = type === 'time' ? 'an ISO-8601 date or timestamp string' : `a ${type}`;
    throw invalid(`The filter on "${field}" (${type}) needs ${expected}, not ${JSON.stringify(value)}.`);
  }
  return value;
}

/** The model's FROM clause (base table and joins), one line per table, in its connection's SQL. */
export function modelFrom(model: SemanticModel): string[] {
  const dialect = dialectOf(model.connection);
  const base = model.alias ?? model.table;
  // DuckDB: the connection is a catalog, named in full so that a sample model never reads a same-named table of the environment.
  const table = (schema: string | undefined, name: string) =>
    dialect === 'duckdb'
      ? `${quoteIdent(model.connection)}.${quoteIdent(schema ?? 'main')}.${quoteIdent(name)}`
      : (schema ? `${quoteIdent(schema)}.` : '') + quoteIdent(name);
  const from = [`FROM ${table(model.schema, model.table)} AS ${quoteIdent(base)}`];
  for (const join of model.joins ?? []) {
    from.push(
      `${join.type === 'inner' ? 'JOIN' : 'LEFT JOIN'} ${table(join.schema, join.table)} AS ${quoteIdent(join.name)} ON ${quoteIdent(base)}.${quoteIdent(join.base_column)} = ${quoteIdent(join.name)}.${quoteIdent(join.column)}`,
    );
  }
  return from;
}

/**
 * Compiles a request to one SELECT over the model, in the SQL of its connection (DuckDB for the built-in
 * ones, PostgreSQL for external ones); every request value ends up in `values`.
 */
export function compileQuery(model: SemanticModel, query: ModelQuery, resolveRange?: RangeResolver): CompiledQuery {
  const dialect = dialectOf(model.connection);
  const values: BindValue[] = [];
  const timeRanges: ResolvedTimeRange[] = [];
  const param = (value: BindValue, cast: string) => {
    values.push(value);
    return `$${values.length}::${cast}`;
  };
  const dimension = (name: string) => {
    const found = model.dimensions.find((d) => d.name === name);
    if (!found) throw invalid(`No dimension "${name}" in model "${model.name}"; its dimensions: ${names(model.dimensions)}.`);
    return found;
  };
  const measure = (name: string) => {
    const found = model.measures.find((m) => m.name === name);
    if (!found) throw invalid(`No measure "${name}" in model "${model.name}"; its measures: ${names(model.measures)}.`);
    return found;
  };
  const aggregate = (m: SemanticModel['measures'][number]) => {
    const expr = m.expr === undefined ? '*' : `(${m.expr})`;
    const call = m.agg === 'count_distinct' ? `count(DISTINCT ${expr})` : `${m.agg}(${expr})`;
    return m.filter === undefined ? call : `${call} FILTER (WHERE (${m.filter}))`;
  };

  const select: string[] = [];
  const outputs = new Set<string>();
  const output = (name: string) => {
    if (outputs.has(name)) throw invalid(`"${name}" is asked for twice.`);
    outputs.add(name);
  };
  for (const item of query.dimensions ?? []) {
    const { name, granularity } = typeof item === 'string' ? { name: item, granularity: undefined } : item;
    const d = dimension(name);
    output(name);
    if (granularity !== undefined && d.type !== 'time')
      throw invalid(`"${name}" is a ${d.type} dimension; only time dimensions take a granularity.`);
    const expr = granularity === undefined ? `(${d.expr})` : `date_trunc(${GRANULARITIES[granularity]}, (${d.expr}))`;
    select.push(`${expr} AS ${quoteIdent(name)}`);
  }
  const groups = select.length;
  for (const name of query.measures ?? []) {
    const m = measure(name);
    output(name);
    select.push(`${aggregate(m)} AS ${quoteIdent(name)}`);
  }
  if (select.length === 0) throw invalid('Ask for at least one measure or dimension.');

  const where: string[] = [];
  const having: string[] = [];
  for (const filter of query.filters ?? []) {
    const d = model.dimensions.find((x) => x.name === filter.field);
    const m = d ? undefined : model.measures.find((x) => x.name === filter.field);
    if (!d && !m) {
      throw invalid(
        `No dimension or measure "${filter.field}" in model "${model.name}" to filter on; dimensions: ${names(model.dimensions)}; measures: ${names(model.measures)}.`,
      );
    }
    const type: FieldType = d ? d.type : 'number';
    const expr = d ? `(${d.expr})` : aggregate(m!);
    if (!OPERATORS[type].includes(filter.op)) {
      throw invalid(`"${filter.op}" does not apply to "${filter.field}" (${type}); use one of ${OPERATORS[type].join(', ')}.`);
    }
    const cast = CASTS[dialect][type];
    let condition: string;
    const comparison = COMPARISONS[filter.op];
    if (comparison) {
      condition = `${expr} ${comparison} ${param(checkValue(type, filter.field, filter.value), cast)}`;
    } else if (filter.op === 'during') {
      const phrase = filter.value;
      if (typeof phrase !== 'string') throw invalid(`"during" on "${filter.field}" needs a time range phrase: ${RANGE_FORMS}.`);
      if (!resolveRange) throw invalid('"during" needs the environment\'s time zone.');
      let range: { from: string; to: string };
      try {
        range = resolveRange(phrase);
      } catch (error) {
        if (error instanceof UnknownRange) throw invalid(`The filter on "${filter.field}": ${error.message}.`);
        throw error;
      }
      timeRanges.push({ field: filter.field, during: phrase, ...range });
      condition = `(${expr} >= ${param(range.from, cast)} AND ${expr} < ${param(range.to, cast)})`;
    } else if (filter.op === 'is_null' || filter.op === 'is_not_null') {
      condition = `${expr} IS ${filter.op === 'is_null' ? '' : 'NOT '}NULL`;
    } else if (filter.op === 'contains' || filter.op === 'starts_with') {
      const operand = param(checkValue(type, filter.field, filter.value), cast);
      condition = filter.op === 'contains' ? `strpos(${expr}::text, ${operand}) > 0` : `starts_with(${expr}::text, ${operand})`;
    } else if (filter.op === 'between') {
      const [low, high, ...rest] = filter.values ?? [];
      if (low === undefined || high === undefined || rest.length > 0)
        throw invalid(`"between" on "${filter.field}" needs exactly two values.`);
      condition = `${expr} BETWEEN ${param(checkValue(type, filter.field, low), cast)} AND ${param(checkValue(type, filter.field, high), cast)}`;
    } else {
      const list = filter.values ?? [];
      if (list.length === 0) throw invalid(`"${filter.op}" on "${filter.field}" needs values.`);
      // One parameter per value: both engines take it, and DuckDB binds no arrays.
      const items = list.map((v) => param(checkValue(type, filter.field, v), cast)).join(', ');
      condition = filter.op === 'in' ? `${expr} IN (${items})` : `${expr} NOT IN (${items})`;
    }
    (d ? where : having).push(condition);
  }

  const order: string[] = [];
  for (const { field, direction = 'asc' } of query.order ?? []) {
    if (!outputs.has(field))
      throw invalid(`Order by "${field}": only the query's own dimensions and measures (${[...outputs].join(', ')}) can order it.`);
    order.push(`${quoteIdent(field)} ${direction === 'desc' ? 'DESC' : 'ASC'}`);
  }
  if (order.length === 0) {
    // Biggest first by the first measure, then by the dimensions: the same rows on every call.
    const [first] = query.measures ?? [];
    if (first) order.push(`${quoteIdent(first)} DESC`);
    for (let i = 1; i <= groups; i++) order.push(`${i}`);
  }

  const from = modelFrom(model);
  const limit = query.limit ?? 100;
  const parts = [
    `SELECT ${select.join(', ')}`,
    ...from,
    ...(where.length ? [`WHERE ${where.join(' AND ')}`] : []),
    ...(groups > 0 ? [`GROUP BY ${Array.from({ length: groups }, (_, i) => i + 1).join(', ')}`] : []),
    ...(having.length ? [`HAVING ${having.join(' AND ')}`] : []),
    ...(order.length ? [`ORDER BY ${order.join(', ')}`] : []),
    // One row more than asked, so that the sandbox can tell a truncated answer.
    `LIMIT ${param(limit + 1, dialect === 'duckdb' ? 'BIGINT' : 'integer')}`,
  ];
  const sql = parts.join('\n');
  // PostgreSQL's sandbox parses every statement; DuckDB's worker checks it with its own parser.
  if (dialect === 'postgres') checkReadStatement(sql);
  return { sql, values, timeRanges };
}
