import { exportQuery } from './exports.js';
import type { ToolHandler } from '../generated/handlers.js';
import { compileQuery, findModel, listModels } from '../lakehouse/semantic-models.js';
import { rangeResolver, timeZoneOf } from './environment-time-zone.js';

/** 1 MiB of rows per answer at most (as query_lakehouse). */
const MAX_BYTES = 1024 * 1024;

export const listSemanticModels: ToolHandler<'list_semantic_models'> = async (_input, ctx) => {
  const found = await listModels(ctx.db, ctx.principal.environmentId);
  return {
    items: found.map(({ model, builtIn, version }) => ({
      name: model.name,
      ...(model.title === undefined ? {} : { title: model.title }),
      ...(model.description === undefined ? {} : { description: model.description }),
      connection: model.connection,
      table: model.table,
      built_in: builtIn,
      version,
      dimensions: model.dimensions.map((d) => d.name),
      measures: model.measures.map((m) => m.name),
    })),
  };
};

export const getSemanticModel: ToolHandler<'get_semantic_model'> = async ({ name }, ctx) => {
  const { model, builtIn, version } = await findModel(ctx.db, ctx.principal.environmentId, name);
  return { model, built_in: builtIn, version };
};

/** The row limit of an exported full result: more than any file holds (and within PostgreSQL's integer). */
const EXPORT_ROWS = 2_000_000_000;

/** Compiled from the model (identifiers and expressions) and the request (values, as bind parameters only). */
export const querySemanticModel: ToolHandler<'query_semantic_model'> = async (input, ctx) => {
  const { model } = await findModel(ctx.db, ctx.principal.environmentId, input.model);
  const { limit, timeout_ms } = input;
  // The zone is looked up only when a filter needs it; ranges resolve at the call's start.
  const zone = input.filters?.some((f) => f.op === 'during') ? await timeZoneOf(ctx.db, ctx.principal.environmentId) : undefined;
  const resolve = zone === undefined ? undefined : rangeResolver(zone, Date.now());
  const compiled = compileQuery(model, { ...input, limit }, resolve);
  ctx.audited.sql = compiled.sql;
  const result = await ctx.lakehouse.query(ctx.principal.environmentId, model.connection, compiled.sql, {
    values: compiled.values,
    limit,
    offset: 0,
    timeoutMs: timeout_ms,
    maxBytes: MAX_BYTES,
    signal: ctx.signal,
  });
  // The full result: the same query without its row limit, written to a file.
  let exported;
  if (input.export) {
    const full = compileQuery(model, { ...input, limit: EXPORT_ROWS }, resolve);
    exported = await exportQuery(ctx, model.connection, full.sql, input.export, timeout_ms, full.values);
  }
  return {
    model: model.name,
    sql: compiled.sql,
    parameters: compiled.values,
    columns: result.columns,
    rows: result.rows,
    row_count: result.row_count,
    truncated: result.truncated,
    elapsed_ms: result.elapsed_ms,
    ...(zone === undefined ? {} : { time_zone: zone, time_ranges: compiled.timeRanges }),
    ...(exported ? { export: exported } : {}),
  };
};
