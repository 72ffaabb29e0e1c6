import { notFound } from '../errors.js';
import type { ToolHandler } from '../generated/handlers.js';
import { dialectOf, isBuiltIn } from '../lakehouse/lakehouse.js';
import { quoteIdent } from '../lakehouse/sql-quote.js';

// Catalog browsing. Built-in connections are described from DuckDB's catalog in the environment's worker
// (which sees only that environment's tables and the sample); external ones in their PostgreSQL sandbox, as
// the connection's user. The statements are ours, with values as parameters.

const BUILT_IN = {
  lakehouse: "This environment's own tables (DuckDB over Parquet; loaded with the REST load operation or `admin lakehouse import`).",
  sample: 'Generated product analytics of a fictional SaaS over 90 days (DuckDB over Parquet): events, users, sessions, pageviews.',
} as const;

type Kind = 'lakehouse' | 'sample' | 'postgres';

const kindOf = (name: string): Kind => (name === 'lakehouse' || name === 'sample' ? name : 'postgres');

export const listConnections: ToolHandler<'list_connections'> = async (_input, ctx) => {
  const external = await ctx.db
    .selectFrom('connections')
    .select(['name', 'display_url'])
    .where('environment_id', '=', ctx.principal.environmentId)
    .orderBy('name')
    .execute();
  return {
    items: [
      { name: 'lakehouse', kind: 'lakehouse', description: BUILT_IN.lakehouse },
      { name: 'sample', kind: 'sample', description: BUILT_IN.sample },
      ...external.map((c) => ({
        name: c.name,
        kind: 'postgres' as const,
        description: `External PostgreSQL database ${c.display_url.replace(/^[a-z]+:\/\/[^@]*@/, '')}`,
      })),
    ],
  };
};

interface ColumnRow {
  schema: string;
  table: string;
  description: string | null;
  estimated_rows: number;
  column: string | null;
  type: string | null;
  nullable: boolean | null;
}

interface TableInfo {
  name: string;
  description?: string;
  estimated_rows: number;
  columns: { name: string; type: string; nullable: boolean }[];
}

interface ProfileRow {
  column: string;
  type: string;
  null_fraction: number | null;
  n_distinct: number | null;
  min: string | null;
  max: string | null;
}

export const getConnection: ToolHandler<'get_connection'> = async ({ name, table }, ctx) => {
  const environmentId = ctx.principal.environmentId;
  const options = { timeoutMs: 15_000, signal: ctx.signal };
  if (isBuiltIn(name)) {
    const tables = await ctx.lakehouse.describe(environmentId, name, options);
    const output = { name, kind: name, schemas: [{ name: 'main', tables }] };
    if (table === undefined) return output;
    const found = tables.find((t) => t.name === table);
    if (!found) throw notFound(`No table "${table}" in connection "${name}". Its tables are listed by get_connection without "table".`);
    const columns = await ctx.lakehouse.profile(environmentId, name, found, options);
    return { ...output, profile: { table, estimated_rows: found.estimated_rows, columns } };
  }
  const kind = kindOf(name);
  const schemas = null;
  return ctx.lakehouse.postgres.withSandbox(environmentId, name, options, async (client) => {
    const result = await client.query<ColumnRow>(
      `SELECT n.nspname AS schema, c.relname AS table, obj_description(c.oid, 'pg_class') AS description,
              c.reltuples::bigint::float8 AS estimated_rows,
              a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')
         AND ($1::text[] IS NULL AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' OR n.nspname = ANY($1::text[]))
         AND has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT')
       ORDER BY n.nspname, c.relname, a.attnum`,
      [schemas],
    );
    const bySchema = new Map<string, Map<string, TableInfo>>();
    for (const schema of schemas ?? []) bySchema.set(schema, new Map<string, TableInfo>());
    for (const row of result.rows) {
      let tables = bySchema.get(row.schema);
      if (!tables) bySchema.set(row.schema, (tables = new Map<string, TableInfo>()));
      let t = tables.get(row.table);
      if (!t) {
        t = {
          name: row.table,
          ...(row.description ? { description: row.description } : {}),
          estimated_rows: Math.round(row.estimated_rows),
          columns: [],
        };
        tables.set(row.table, t);
      }
      if (row.column && row.type) t.columns.push({ name: row.column, type: row.type, nullable: row.nullable ?? true });
    }
    const output = {
      name,
      kind,
      schemas: [...bySchema].map(([schema, tables]) => ({ name: schema, tables: [...tables.values()] })),
    };
    if (table === undefined) return output;
    const found = output.schemas.flatMap((s) => s.tables.map((t) => ({ schema: s.name, t }))).find(({ t }) => t.name === table);
    if (!found) throw notFound(`No table "${table}" in connection "${name}". Its tables are listed by get_connection without "table".`);
    const profile = await client.query<ProfileRow>(
      `SELECT a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type, s.null_frac::float8 AS null_fraction,
              CASE WHEN s.n_distinct < 0 THEN -s.n_distinct * greatest(c.reltuples, 0) ELSE s.n_distinct END::float8 AS n_distinct,
              (s.histogram_bounds::text::text[])[1] AS min,
              (s.histogram_bounds::text::text[])[array_length(s.histogram_bounds::text::text[], 1)] AS max
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = a.attname
       WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
       ORDER BY a.attnum`,
      [found.schema, table],
    );
    return {
      ...output,
      profile: {
        table,
        estimated_rows: found.t.estimated_rows,
        columns: profile.rows.map((r) => ({
          name: r.column,
          type: r.type,
          ...(r.null_fraction === null ? {} : { null_fraction: r.null_fraction }),
          ...(r.n_distinct === null ? {} : { distinct_estimate: Math.round(r.n_distinct) }),
          ...(r.min === null ? {} : { min: r.min }),
          ...(r.max === null ? {} : { max: r.max }),
        })),
      },
    };
  });
};

export const listEvents: ToolHandler<'list_events'> = async (input, ctx) => {
  const { connection, table, limit } = input;
  const to = input.to ? new Date(input.to) : new Date();
  const from = input.from ? new Date(input.from) : new Date(to.getTime() - 7 * 86_400_000);
  // One text, run and audited.
  const statement =
    dialectOf(connection) === 'duckdb'
      ? `SELECT event::VARCHAR AS event, count(*)::INTEGER AS count, count(DISTINCT user_id)::INTEGER AS users FROM ${quoteIdent(table)} WHERE occurred_at >= $1::TIMESTAMPTZ AND occurred_at < $2::TIMESTAMPTZ GROUP BY event ORDER BY 2 DESC, 1 LIMIT $3`
      : `SELECT event::text AS event, count(*)::int AS count, count(DISTINCT user_id)::int AS users FROM ${quoteIdent(table)} WHERE occurred_at >= $1 AND occurred_at < $2 GROUP BY event ORDER BY 2 DESC, 1 LIMIT $3`;
  ctx.audited.sql = statement;
  const result = await ctx.lakehouse.query(ctx.principal.environmentId, connection, statement, {
    values: [from.toISOString(), to.toISOString(), limit],
    limit,
    offset: 0,
    maxBytes: 1024 * 1024,
    timeoutMs: 15_000,
    signal: ctx.signal,
  });
  const items = result.rows.map(([event, count, users]) => ({ event: String(event), count: Number(count), users: Number(users) }));
  return { from: from.toISOString(), to: to.toISOString(), items };
};
