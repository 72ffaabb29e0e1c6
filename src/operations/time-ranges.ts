import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Lakehouse } from '../lakehouse/lakehouse.js';
import { listModels, modelFrom, type SemanticModel } from '../lakehouse/semantic-models.js';
import { quoteIdent } from '../lakehouse/sql-quote.js';
import { formatInZone } from '../time/time-zone.js';

// get_session_context's `time_ranges`: the first and last time of each table that has a time column (the
// sample's events, sessions and pageviews, and each semantic model's base table with a `time` dimension).
// One min/max statement per connection (Parquet min/max statistics answer it without reading the data);
// kept per environment for TTL_MS. A table whose statement fails is left out rather than failing the call.

export interface TableTimeRange {
  connection: string;
  table: string;
  /** The column, or the model's time dimension expression when it is not a plain column. */
  column: string;
  /** ISO 8601 in the environment's zone; null when the table has no non-null time. */
  min: string | null;
  max: string | null;
}

interface TimeColumn {
  connection: string;
  table: string;
  column: string;
  expr: string;
  from: string[];
}

const SAMPLE_TIME_COLUMNS: ReadonlyArray<[table: string, column: string]> = [
  ['events', 'occurred_at'],
  ['sessions', 'started_at'],
  ['pageviews', 'viewed_at'],
];
/** Model tables looked at, at most (a model beyond them is left out). */
const MAX_MODEL_TABLES = 20;
const TTL_MS = 60_000;
const TIMEOUT_MS = 5_000;

const sampleColumns = (): TimeColumn[] =>
  SAMPLE_TIME_COLUMNS.map(([table, column]) => ({
    connection: 'sample',
    table,
    column,
    expr: `${quoteIdent(table)}.${quoteIdent(column)}`,
    from: [`FROM ${quoteIdent('sample')}.${quoteIdent('main')}.${quoteIdent(table)} AS ${quoteIdent(table)}`],
  }));

/** The first time dimension of a model, named as a plain column when it is one (`events.occurred_at` → `occurred_at`). */
function modelColumn(model: SemanticModel): TimeColumn | undefined {
  const dimension = model.dimensions.find((d) => d.type === 'time');
  if (!dimension) return undefined;
  const base = model.alias ?? model.table;
  const plain = new RegExp(`^\\s*(?:"?${base.replace(/\$/g, '\\$')}"?\\.)?"?([A-Za-z_][A-Za-z0-9_$]*)"?\\s*$`).exec(dimension.expr);
  return {
    connection: model.connection,
    table: model.table,
    column: plain?.[1] ?? dimension.expr,
    expr: dimension.expr,
    from: modelFrom(model),
  };
}

async function timeColumns(db: Kysely<Database>, environmentId: string): Promise<TimeColumn[]> {
  const columns = sampleColumns();
  const seen = new Set(columns.map((c) => `${c.connection}.${c.table}`));
  for (const { model } of await listModels(db, environmentId)) {
    const column = modelColumn(model);
    const key = `${model.connection}.${model.table}`;
    if (!column || seen.has(key) || seen.size >= SAMPLE_TIME_COLUMNS.length + MAX_MODEL_TABLES) continue;
    seen.add(key);
    columns.push(column);
  }
  return columns;
}

/** One statement for the columns of one connection: row i holds column i's min and max. */
async function measure(lakehouse: Lakehouse, environmentId: string, connection: string, columns: TimeColumn[]) {
  const sql = columns
    .map(
      (c, i) =>
        `SELECT ${i} AS i, CAST(min((${c.expr})) AS timestamptz) AS lo, CAST(max((${c.expr})) AS timestamptz) AS hi ${c.from.join(' ')}`,
    )
    .join('\nUNION ALL\n');
  const result = await lakehouse.query(environmentId, connection, sql, {
    limit: columns.length,
    offset: 0,
    timeoutMs: TIMEOUT_MS,
    maxBytes: 64 * 1024,
    unbudgeted: true,
  });
  return result.rows.map((row) => ({ column: columns[Number(row[0])]!, min: row[1], max: row[2] }));
}

/** A time from either engine as ISO 8601 in `zone`. */
function inZone(zone: string, value: unknown): string | null {
  if (value instanceof Date) return formatInZone(zone, value.getTime());
  if (typeof value !== 'string') return null;
  const instant = Date.parse(value);
  return Number.isNaN(instant) ? value : formatInZone(zone, instant);
}

type Measured = { column: TimeColumn; min: unknown; max: unknown };
const cache = new Map<string, { at: number; measured: Promise<Measured[]> }>();

async function measureAll(db: Kysely<Database>, lakehouse: Lakehouse, environmentId: string): Promise<Measured[]> {
  const byConnection = new Map<string, TimeColumn[]>();
  for (const column of await timeColumns(db, environmentId)) {
    byConnection.set(column.connection, [...(byConnection.get(column.connection) ?? []), column]);
  }
  const settled = await Promise.allSettled(
    [...byConnection].map(async ([connection, columns]) => {
      try {
        return await measure(lakehouse, environmentId, connection, columns);
      } catch {
        // One bad expression must not hide the others: each column on its own.
        if (columns.length === 1) throw new Error('unmeasurable');
        const each = await Promise.allSettled(columns.map((c) => measure(lakehouse, environmentId, connection, [c])));
        return each.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
      }
    }),
  );
  return settled.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
}

/** The time ranges of the environment's tables, in its zone (measured at most once per TTL_MS per environment). */
export async function tableTimeRanges(
  db: Kysely<Database>,
  lakehouse: Lakehouse,
  environmentId: string,
  zone: string,
): Promise<TableTimeRange[]> {
  const now = Date.now();
  let entry = cache.get(environmentId);
  if (!entry || now - entry.at >= TTL_MS) {
    entry = { at: now, measured: measureAll(db, lakehouse, environmentId) };
    cache.set(environmentId, entry);
    entry.measured.catch(() => cache.delete(environmentId));
    if (cache.size > 10_000) cache.delete(cache.keys().next().value ?? '');
  }
  const measured = await entry.measured;
  return measured.map(({ column, min, max }) => ({
    connection: column.connection,
    table: column.table,
    column: column.column,
    min: inZone(zone, min),
    max: inZone(zone, max),
  }));
}
