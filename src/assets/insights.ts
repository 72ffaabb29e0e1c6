import { sql } from 'kysely';
import type { ToolHandler } from '../generated/handlers.js';
import { deleteResult } from './delete-asset.js';
import { actorOf, afterCursor, assetNotFound, compact, decodeCursor, page, SORT_KEY_SQL, staleVersion } from './common.js';
import { renderChart } from './chart.js';
import { createOnce } from './idempotency.js';
import { insightData, runInsight, validateInsightSql, type InsightParameter } from './insight-run.js';
import { findInsight, INSIGHT_COLUMNS, toInsight } from './insight-rows.js';

const RENDER_TIMEOUT_MS = 30_000;

export const createInsight: ToolHandler<'create_insight'> = async (input, ctx) => {
  const { principal } = ctx;
  ctx.audited.sql = input.sql;
  const definition = {
    sql: input.sql,
    connection: input.connection,
    parameters: (input.parameters ?? []) as InsightParameter[],
  };
  // Checked before the transaction: planning runs on a sandbox connection, not the application's.
  await validateInsightSql(ctx.lakehouse, principal.environmentId, definition, ctx.signal);
  return createOnce(ctx.db, { environmentId: principal.environmentId, tool: 'create_insight' }, input, async (trx) => {
    const row = await trx
      .insertInto('insights')
      .values({
        environment_id: principal.environmentId,
        title: input.title,
        description: input.description ?? '',
        sql: definition.sql,
        connection: definition.connection,
        parameters: JSON.stringify(definition.parameters),
        chart: input.chart,
        created_by: actorOf(principal),
      })
      .returning(INSIGHT_COLUMNS)
      .executeTakeFirstOrThrow();
    return toInsight(row);
  });
};

export const viewInsight: ToolHandler<'view_insight'> = async (input, ctx) => ({
  insight: toInsight(await findInsight(ctx.db, ctx.principal.environmentId, input.id)),
});

export const listInsights: ToolHandler<'list_insights'> = async (input, ctx) => {
  const limit = input.limit;
  const after = decodeCursor(input.cursor);
  let query = ctx.db
    .selectFrom('insights')
    .select([...INSIGHT_COLUMNS, sql<string>`${sql.raw(SORT_KEY_SQL)}`.as('sort_key')])
    .where('environment_id', '=', ctx.principal.environmentId)
    .where('deleted_at', 'is', null);
  if (input.query) query = query.where(sql<boolean>`search @@ websearch_to_tsquery('english', ${input.query})`);
  if (after) query = query.where(afterCursor(after));
  const rows = await query
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  const { rows: kept, next_cursor } = page(rows, limit);
  return compact({ items: kept.map(({ sort_key: _key, ...row }) => toInsight(row)), next_cursor });
};

/** Optimistic concurrency: the UPDATE applies only at the version the caller read; exactly one of two racing updates wins. */
export const updateInsight: ToolHandler<'update_insight'> = async (input, ctx) => {
  const environmentId = ctx.principal.environmentId;
  const current = await findInsight(ctx.db, environmentId, input.id);
  if (current.version !== input.version) throw staleVersion('insight', input.id, input.version, current.version);
  const definition = {
    sql: input.sql ?? current.sql,
    connection: input.connection ?? current.connection,
    parameters: input.parameters ?? current.parameters,
  };
  if (input.sql !== undefined || input.connection !== undefined || input.parameters !== undefined) {
    ctx.audited.sql = definition.sql;
    await validateInsightSql(ctx.lakehouse, environmentId, definition, ctx.signal);
  }
  const row = await ctx.db
    .updateTable('insights')
    .set((eb) => ({
      ...(input.title !== undefined ? { title: input.title } : {}),
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.sql !== undefined ? { sql: input.sql } : {}),
      ...(input.connection !== undefined ? { connection: input.connection } : {}),
      ...(input.parameters !== undefined ? { parameters: JSON.stringify(input.parameters) } : {}),
      ...(input.chart !== undefined ? { chart: input.chart } : {}),
      version: eb('version', '+', 1),
      updated_at: sql<Date>`now()`,
    }))
    .where('environment_id', '=', environmentId)
    .where('id', '=', input.id)
    .where('version', '=', input.version)
    .where('deleted_at', 'is', null)
    .returning(INSIGHT_COLUMNS)
    .executeTakeFirst();
  if (!row) {
    const now = await ctx.db
      .selectFrom('insights')
      .select('version')
      .where('environment_id', '=', environmentId)
      .where('id', '=', input.id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (!now) throw assetNotFound('insight', input.id);
    throw staleVersion('insight', input.id, input.version, now.version);
  }
  return toInsight(row);
};

export const renderInsight: ToolHandler<'render_insight'> = async (input, ctx) => {
  const environmentId = ctx.principal.environmentId;
  const row = await findInsight(ctx.db, environmentId, input.id);
  ctx.audited.sql = row.sql;
  const data = await runInsight(
    ctx.lakehouse,
    environmentId,
    { sql: row.sql, connection: row.connection, parameters: row.parameters },
    input.parameters ?? {},
    {
      limit: input.limit,
      timeoutMs: RENDER_TIMEOUT_MS,
      signal: ctx.signal,
    },
  );
  const chart = await renderChart(data, row.chart, row.title, input.width, input.height);
  const base64 = chart.png.toString('base64');
  const image = { mime_type: 'image/png' as const, width: chart.width, height: chart.height, bytes: chart.png.length };
  // Over MCP the PNG is an image content item (clients show it); REST has only the JSON, so it goes there.
  if (ctx.content) ctx.content.push({ type: 'image', data: base64, mimeType: 'image/png' });
  return {
    insight: { id: row.id, version: row.version, title: row.title },
    data: insightData(data),
    image: ctx.content ? image : { ...image, data: base64 },
  };
};

/**
 * A soft delete (migration 0010): the row stays as a tombstone so that dashboard widgets and discoveries that
 * point at it keep a valid reference; every read but view_dashboard's then treats it as absent.
 */
export const deleteInsight: ToolHandler<'delete_insight'> = async (input, ctx) => {
  const row = await ctx.db
    .updateTable('insights')
    .set({ deleted_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
    .where('environment_id', '=', ctx.principal.environmentId)
    .where('id', '=', input.id)
    .where('deleted_at', 'is', null)
    .returning('id')
    .executeTakeFirst();
  return deleteResult(ctx, 'insight', input.id, row !== undefined);
};
