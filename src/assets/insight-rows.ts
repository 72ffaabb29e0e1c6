import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import type { ToolIO } from '../generated/handlers.js';
import { assetNotFound, compact, iso } from './common.js';

export type Insight = ToolIO['view_insight']['output']['insight'];

export const INSIGHT_COLUMNS = [
  'id',
  'version',
  'title',
  'description',
  'sql',
  'connection',
  'parameters',
  'chart',
  'created_by',
  'created_at',
  'updated_at',
] as const;

export type InsightRow = Pick<Selectable<Database['insights']>, (typeof INSIGHT_COLUMNS)[number]>;

export const toInsight = (row: InsightRow): Insight =>
  compact({
    id: row.id,
    version: row.version,
    title: row.title,
    description: row.description,
    sql: row.sql,
    connection: row.connection,
    parameters: row.parameters,
    chart: row.chart,
    created_by: row.created_by,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  });

/** A live insight of the environment; undefined for a deleted one and for another environment's id. */
export function liveInsight(
  db: Kysely<Database> | Transaction<Database>,
  environmentId: string,
  id: string,
): Promise<InsightRow | undefined> {
  return db
    .selectFrom('insights')
    .select(INSIGHT_COLUMNS)
    .where('environment_id', '=', environmentId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
}

/** A live insight of the environment, or not_found (also for a deleted one, and for another environment's id: no hint it exists). */
export async function findInsight(db: Kysely<Database> | Transaction<Database>, environmentId: string, id: string): Promise<InsightRow> {
  const row = await liveInsight(db, environmentId, id);
  if (!row) throw assetNotFound('insight', id);
  return row;
}
