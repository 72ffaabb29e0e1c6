import { AppError } from '../errors.js';
import { isBuiltIn } from '../lakehouse/lakehouse.js';
import type { SemanticModel } from '../lakehouse/semantic-models.js';
import { quoteIdent, quoteLiteral } from '../lakehouse/sql-quote.js';

// The event table the analytics tools read: a semantic model's `event_table` block names its user, time and
// event columns and, optionally, a JSON column of properties. Everything that reaches the SQL from a request
// is a checked name (quoted as an identifier or a JSON key literal) or a value quoted as a literal here, so the
// statement the tool runs is the same text it returns and an insight saves.

export const DEFAULT_EVENT_MODEL = 'product_events';

/** The quoted pieces of one event table, ready to paste into DuckDB SQL. */
export interface EventSource {
  model: string;
  connection: string;
  /** `"conn"."schema"."table"`. */
  table: string;
  user: string;
  time: string;
  event: string;
  /** The JSON column of properties, quoted; undefined when properties are the table's columns. */
  properties?: string;
}

export type FilterValue = string | number | boolean;
export interface PropertyFilter {
  property: string;
  op: 'eq' | 'neq' | 'gt' | 'gte' | 'lt' | 'lte' | 'in' | 'not_in' | 'contains' | 'is_set' | 'is_not_set';
  value?: FilterValue | FilterValue[];
}

export const invalidQuery = (message: string) => new AppError('invalid_query', message);

const PROPERTY = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const MAX_TEXT = 1_000;
const MAX_LIST = 100;

/** The event table of a model, or an error saying which models have one. */
export function eventSource(model: SemanticModel): EventSource {
  const declared = model.event_table;
  if (!declared) {
    throw invalidQuery(
      `Model "${model.name}" declares no event_table (user, time and event columns); use ${DEFAULT_EVENT_MODEL} (the sample's events) or add an event_table block to the model (docs/analytics.md).`,
    );
  }
  if (!isBuiltIn(model.connection)) {
    throw invalidQuery(`Model "${model.name}" is on connection "${model.connection}"; the analytics tools read sample and lakehouse only.`);
  }
  return {
    model: model.name,
    connection: model.connection,
    table: [model.connection, model.schema ?? 'main', model.table].map(quoteIdent).join('.'),
    user: quoteIdent(declared.user),
    time: quoteIdent(declared.time),
    event: quoteIdent(declared.event),
    ...(declared.properties === undefined ? {} : { properties: quoteIdent(declared.properties) }),
  };
}

/** A string literal from a caller: bounded, no NUL (which DuckDB's parser ends a string at). */
export function textLiteral(value: string, what: string): string {
  if (value.length > MAX_TEXT) throw invalidQuery(`${what} is longer than ${MAX_TEXT} characters.`);
  if (value.includes('\u0000')) throw invalidQuery(`${what} contains a NUL character.`);
  return quoteLiteral(value);
}

function numberLiteral(value: number, what: string): string {
  if (!Number.isFinite(value)) throw invalidQuery(`${what} must be a finite number.`);
  return `${value}::DOUBLE`;
}

/**
 * A property as VARCHAR: a key of the JSON column, or a column of the table. `columns` (the table's, when
 * properties are columns) turns an unknown name into an error listing the known ones.
 */
export function propertyExpr(source: EventSource, property: string, columns?: readonly string[]): string {
  if (!PROPERTY.test(property)) {
    throw invalidQuery(`Property ${JSON.stringify(property.slice(0, 80))} is not a property name (letters, digits and _, 63 at most).`);
  }
  if (source.properties) return `(${source.properties} ->> ${quoteLiteral(property)})`;
  if (columns && !columns.includes(property)) {
    throw invalidQuery(`No column "${property}" in the event table of model "${source.model}"; its columns: ${columns.join(', ')}.`);
  }
  return `CAST(${quoteIdent(property)} AS VARCHAR)`;
}

/** A property as a number (NULL where it is missing or not numeric). */
export const numericExpr = (expr: string) => `TRY_CAST(${expr} AS DOUBLE)`;

/** One filter as a SQL condition. `neq` and `not_in` keep events without the property. */
export function filterCondition(source: EventSource, filter: PropertyFilter, columns?: readonly string[]): string {
  const expr = propertyExpr(source, filter.property, columns);
  const what = `The filter on "${filter.property}"`;
  const { op, value } = filter;
  if (op === 'is_set' || op === 'is_not_set') {
    if (value !== undefined) throw invalidQuery(`${what}: ${op} takes no value.`);
    return `${expr} IS ${op === 'is_set' ? 'NOT ' : ''}NULL`;
  }
  if (op === 'in' || op === 'not_in') {
    if (!Array.isArray(value) || value.length === 0 || value.length > MAX_LIST) {
      throw invalidQuery(`${what}: ${op} needs a list of 1 to ${MAX_LIST} values.`);
    }
    const numeric = value.every((v) => typeof v === 'number');
    const items = value.map((v) => scalar(v, numeric, what)).join(', ');
    const subject = numeric ? numericExpr(expr) : expr;
    return op === 'in' ? `${subject} IN (${items})` : `(${subject} IS NULL OR ${subject} NOT IN (${items}))`;
  }
  if (value === undefined || Array.isArray(value)) throw invalidQuery(`${what}: ${op} needs one value (a string, number or boolean).`);
  if (op === 'contains') {
    if (typeof value !== 'string') throw invalidQuery(`${what}: contains needs a string.`);
    return `contains(${expr}, ${textLiteral(value, what)})`;
  }
  if (op === 'eq' || op === 'neq') {
    const numeric = typeof value === 'number';
    const subject = numeric ? numericExpr(expr) : expr;
    const operand = scalar(value, numeric, what);
    return op === 'eq' ? `${subject} = ${operand}` : `(${subject} IS NULL OR ${subject} <> ${operand})`;
  }
  if (typeof value !== 'number') throw invalidQuery(`${what}: ${op} compares numbers; give a number.`);
  const comparison = { gt: '>', gte: '>=', lt: '<', lte: '<=' }[op];
  return `${numericExpr(expr)} ${comparison} ${numberLiteral(value, what)}`;
}

/** A value compared as a number (numbers only) or as the property's text (booleans as true/false). */
function scalar(value: unknown, numeric: boolean, what: string): string {
  if (numeric) return numberLiteral(value as number, what);
  if (typeof value === 'string') return textLiteral(value, what);
  if (typeof value === 'boolean') return quoteLiteral(String(value));
  if (typeof value === 'number') return quoteLiteral(String(value));
  throw invalidQuery(`${what}: values are strings, numbers or booleans.`);
}

/** The condition an event must meet to count as `event` with `where`. */
export function eventCondition(
  source: EventSource,
  step: { event: string; where?: PropertyFilter[] },
  columns?: readonly string[],
): string {
  const parts = [`${source.event} = ${textLiteral(step.event, 'The event name')}`];
  for (const filter of step.where ?? []) parts.push(filterCondition(source, filter, columns));
  return parts.length === 1 ? parts[0]! : `(${parts.join(' AND ')})`;
}

/** `IN (…)` over the distinct event names, which lets the scan skip row groups of other events. */
export function eventList(source: EventSource, events: string[]): string {
  return `${source.event} IN (${[...new Set(events)].map((e) => textLiteral(e, 'The event name')).join(', ')})`;
}

const OPS = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'not_in', 'contains', 'is_set'] as const;

/**
 * A `where` map as filters: `{prop: value}` equals, `{prop: [a, b]}` any of, `{prop: {op: value, …}}` each
 * operator (all must hold); `is_set: false` is "missing".
 */
export function parseWhere(where: Record<string, unknown> | undefined): PropertyFilter[] {
  const filters: PropertyFilter[] = [];
  for (const [property, spec] of Object.entries(where ?? {})) {
    if (spec === null) throw invalidQuery(`The filter on "${property}" is null; use {"is_set": false} for a missing property.`);
    if (Array.isArray(spec)) filters.push({ property, op: 'in', value: spec as FilterValue[] });
    else if (typeof spec === 'object') {
      const entries = Object.entries(spec as Record<string, unknown>);
      if (entries.length === 0) throw invalidQuery(`The filter on "${property}" names no operator; use one of ${OPS.join(', ')}.`);
      for (const [op, value] of entries) {
        if (!(OPS as readonly string[]).includes(op)) {
          throw invalidQuery(`Unknown operator ${JSON.stringify(op.slice(0, 40))} on "${property}"; use one of ${OPS.join(', ')}.`);
        }
        if (op === 'is_set') {
          if (typeof value !== 'boolean') throw invalidQuery(`is_set on "${property}" takes true or false.`);
          filters.push({ property, op: value ? 'is_set' : 'is_not_set' });
        } else filters.push({ property, op: op as PropertyFilter['op'], value: value as FilterValue });
      }
    } else filters.push({ property, op: 'eq', value: spec as FilterValue });
  }
  return filters;
}
