import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import { AppError, type ErrorCode } from '../errors.js';
import type { Lakehouse } from '../lakehouse/lakehouse.js';
import type { ToolHandler, ToolIO } from '../generated/handlers.js';
import { actorOf, assetNotFound, compact, decodeCursor, iso, page, staleVersion } from './common.js';
import { deleteResult } from './delete-asset.js';
import { createOnce } from './idempotency.js';
import { bindValue, insightData, runInsight, type InsightParameter, type Scalar } from './insight-run.js';
import { INSIGHT_COLUMNS, toInsight } from './insight-rows.js';

type Widget = NonNullable<ToolIO['create_dashboard']['input']['widgets']>[number];
type Variable = NonNullable<ToolIO['create_dashboard']['input']['variables']>[number];
type Summary = ToolIO['create_dashboard']['output'];

const GRID_COLUMNS = 12;

interface DashboardRow {
  id: string;
  version: number;
  title: string;
  description: string;
  created_by: string;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = ['id', 'version', 'title', 'description', 'created_by', 'created_at', 'updated_at'] as const;

const toSummary = (row: DashboardRow, widgetCount: number): Summary => ({
  id: row.id,
  version: row.version,
  title: row.title,
  description: row.description,
  widget_count: widgetCount,
  created_by: row.created_by,
  created_at: iso(row.created_at),
  updated_at: iso(row.updated_at),
});

function checkLayout(widgets: Widget[], variables: Variable[]): void {
  widgets.forEach((w, i) => {
    if (w.x + w.w > GRID_COLUMNS) {
      throw new AppError('invalid_layout', `widgets[${i}] ends at column ${w.x + w.w}; the grid has ${GRID_COLUMNS} columns (x + w ≤ 12).`);
    }
  });
  const names = new Set<string>();
  for (const v of variables) {
    if (names.has(v.name)) throw new AppError('invalid_layout', `The variable name "${v.name}" is used twice.`);
    names.add(v.name);
  }
}

/** Every widget's insight must be a live one of this environment's (the composite foreign key enforces the environment too). */
async function checkInsights(trx: Transaction<Database>, environmentId: string, widgets: Widget[]): Promise<void> {
  const ids = [...new Set(widgets.map((w) => w.insight_id.toLowerCase()))];
  if (ids.length === 0) return;
  const found = await trx
    .selectFrom('insights')
    .select('id')
    .where('environment_id', '=', environmentId)
    .where('id', 'in', ids)
    .where('deleted_at', 'is', null)
    .execute();
  const missing = ids.find((id) => !found.some((f) => f.id === id));
  if (missing) throw assetNotFound('insight', missing);
}

async function writeWidgets(trx: Transaction<Database>, environmentId: string, dashboardId: string, widgets: Widget[]): Promise<void> {
  await trx.deleteFrom('dashboard_widgets').where('environment_id', '=', environmentId).where('dashboard_id', '=', dashboardId).execute();
  if (widgets.length === 0) return;
  await trx
    .insertInto('dashboard_widgets')
    .values(
      widgets.map((w, position) => ({
        environment_id: environmentId,
        dashboard_id: dashboardId,
        position,
        insight_id: w.insight_id.toLowerCase(),
        x: w.x,
        y: w.y,
        w: w.w,
        h: w.h,
      })),
    )
    .execute();
}

export const createDashboard: ToolHandler<'create_dashboard'> = async (input, ctx) => {
  const { principal } = ctx;
  const variables = input.variables ?? [];
  checkLayout(input.widgets, variables);
  return createOnce(ctx.db, { environmentId: principal.environmentId, tool: 'create_dashboard' }, input, async (trx) => {
    await checkInsights(trx, principal.environmentId, input.widgets);
    const row = await trx
      .insertInto('dashboards')
      .values({
        environment_id: principal.environmentId,
        title: input.title,
        description: input.description ?? '',
        variables: JSON.stringify(variables),
        created_by: actorOf(principal),
      })
      .returning(COLUMNS)
      .executeTakeFirstOrThrow();
    await writeWidgets(trx, principal.environmentId, row.id, input.widgets);
    return toSummary(row, input.widgets.length);
  });
};

/** Replaces the given fields, widgets and variables whole, in one transaction, at the version the caller read. */
export const updateDashboard: ToolHandler<'update_dashboard'> = async (input, ctx) => {
  const environmentId = ctx.principal.environmentId;
  if (input.widgets || input.variables) checkLayout(input.widgets ?? [], input.variables ?? []);
  return ctx.db.transaction().execute(async (trx) => {
    if (input.widgets) await checkInsights(trx, environmentId, input.widgets);
    const row = await trx
      .updateTable('dashboards')
      .set((eb) => ({
        ...(input.title !== undefined ? { title: input.title } : {}),
        ...(input.description !== undefined ? { description: input.description } : {}),
        ...(input.variables !== undefined ? { variables: JSON.stringify(input.variables) } : {}),
        version: eb('version', '+', 1),
        updated_at: sql<Date>`now()`,
      }))
      .where('environment_id', '=', environmentId)
      .where('id', '=', input.id)
      .where('version', '=', input.version)
      .returning(COLUMNS)
      .executeTakeFirst();
    if (!row) {
      const now = await trx
        .selectFrom('dashboards')
        .select('version')
        .where('environment_id', '=', environmentId)
        .where('id', '=', input.id)
        .executeTakeFirst();
      if (!now) throw assetNotFound('dashboard', input.id);
      throw staleVersion('dashboard', input.id, input.version, now.version);
    }
    if (input.widgets) await writeWidgets(trx, environmentId, input.id, input.widgets);
    return toSummary(row, await widgetCount(trx, environmentId, input.id));
  });
};

async function widgetCount(db: Kysely<Database> | Transaction<Database>, environmentId: string, dashboardId: string): Promise<number> {
  const row = await db
    .selectFrom('dashboard_widgets')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('environment_id', '=', environmentId)
    .where('dashboard_id', '=', dashboardId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export const listDashboards: ToolHandler<'list_dashboards'> = async (input, ctx) => {
  const environmentId = ctx.principal.environmentId;
  const limit = input.limit;
  const after = decodeCursor(input.cursor);
  let query = ctx.db
    .selectFrom('dashboards as d')
    .select(['d.id', 'd.version', 'd.title', 'd.description', 'd.created_by', 'd.created_at', 'd.updated_at'])
    .select(sql<string>`to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('sort_key'))
    .select((eb) =>
      eb
        .selectFrom('dashboard_widgets as w')
        .select(eb.fn.countAll<string>().as('n'))
        .whereRef('w.environment_id', '=', 'd.environment_id')
        .whereRef('w.dashboard_id', '=', 'd.id')
        .as('widget_count'),
    )
    .where('d.environment_id', '=', environmentId);
  if (after) query = query.where(sql<boolean>`(d.created_at, d.id) < (${after.at}::timestamptz, ${after.id}::uuid)`);
  const rows = await query
    .orderBy('d.created_at', 'desc')
    .orderBy('d.id', 'desc')
    .limit(limit + 1)
    .execute();
  const { rows: kept, next_cursor } = page(rows, limit);
  return compact({ items: kept.map(({ sort_key: _key, widget_count, ...row }) => toSummary(row, Number(widget_count ?? 0))), next_cursor });
};

export type DashboardView = Omit<ToolIO['view_dashboard']['output'], 'url'>;

/** Where a dashboard is seen: the tool's context, or a page's services and the environment it found. */
interface ViewContext {
  db: Kysely<Database>;
  lakehouse: Lakehouse;
  signal?: AbortSignal | undefined;
}

/** The web page of a dashboard (src/account/dashboard-routes.ts). */
export const dashboardPageUrl = (publicUrl: string, id: string) => `${publicUrl}/dashboards/${id.toLowerCase()}`;

/**
 * A dashboard with its variables and widgets, each run (`includeData`) with the variables' values: their defaults,
 * or `values` (already checked by variableValues).
 */
export async function dashboardView(
  ctx: ViewContext,
  environmentId: string,
  id: string,
  options: { includeData: boolean; values?: Record<string, Scalar> },
): Promise<DashboardView> {
  const outline = await dashboardOutline(ctx.db, environmentId, id);
  return options.includeData ? await dashboardData(ctx, environmentId, outline, options.values) : outline;
}

/** A dashboard with its variables and widgets, none run; a widget whose insight was deleted says so. */
export async function dashboardOutline(db: Kysely<Database>, environmentId: string, id: string): Promise<DashboardView> {
  const row = await db
    .selectFrom('dashboards')
    .select([...COLUMNS, 'variables'])
    .where('environment_id', '=', environmentId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw assetNotFound('dashboard', id);
  const widgets = await db
    .selectFrom('dashboard_widgets as w')
    .innerJoin('insights as i', (join) => join.onRef('i.environment_id', '=', 'w.environment_id').onRef('i.id', '=', 'w.insight_id'))
    .select(['w.x', 'w.y', 'w.w', 'w.h', 'w.position', 'i.deleted_at'])
    .select(INSIGHT_COLUMNS.map((c) => `i.${c}` as const))
    .where('w.environment_id', '=', environmentId)
    .where('w.dashboard_id', '=', id)
    .orderBy('w.position')
    .execute();
  return {
    dashboard: toSummary(row, widgets.length),
    variables: row.variables,
    widgets: widgets.map((w) => ({
      insight_id: w.id,
      x: w.x,
      y: w.y,
      w: w.w,
      h: w.h,
      insight: toInsight(w),
      // The widget stays (the tombstone's definition shows what it was) and says why it has no data.
      ...(w.deleted_at ? { error: insightDeleted(w.id, w.deleted_at) } : {}),
    })),
  };
}

/** The outline's live widgets run with the variables' values: their defaults, or `values` (checked by variableValues). */
export async function dashboardData(
  ctx: ViewContext,
  environmentId: string,
  outline: DashboardView,
  values: Record<string, Scalar> = defaultValues(outline.variables),
): Promise<DashboardView> {
  const widgets = [];
  for (const widget of outline.widgets) {
    if (widget.error) {
      widgets.push(widget);
      continue;
    }
    const parameters = widget.insight.parameters as InsightParameter[];
    // Only the variables this insight has a parameter for.
    const given = Object.fromEntries(Object.entries(values).filter(([name]) => parameters.some((p) => p.name === name)));
    let result: Pick<DashboardView['widgets'][number], 'data' | 'error'>;
    try {
      const data = await runInsight(
        ctx.lakehouse,
        environmentId,
        { sql: widget.insight.sql, connection: widget.insight.connection, parameters },
        given,
        {
          limit: 1000,
          timeoutMs: 15_000,
          signal: ctx.signal,
        },
      );
      result = {
        data: insightData(data),
      };
    } catch (error) {
      if (!(error instanceof AppError) || !error.expose) throw error;
      result = { error: { code: error.code, message: error.message } };
    }
    widgets.push({ ...widget, ...result });
  }
  return { ...outline, widgets };
}

function defaultValues(variables: Variable[]): Record<string, Scalar> {
  const values: Record<string, Scalar> = {};
  for (const v of variables) if (v.default !== undefined) values[v.name] = v.default;
  return values;
}

/**
 * The variables' values with `given` (text, as a form sends it) over their defaults. Each given value is checked
 * as the widgets' runs bind it (bindValue), against every live widget's parameter of its name: an unknown name or
 * a value that some widget cannot take is an `invalid_parameters` error naming the variable.
 */
export function variableValues(view: DashboardView, given: Record<string, string>): Record<string, Scalar> {
  const values = defaultValues(view.variables);
  for (const [name, value] of Object.entries(given)) {
    if (!view.variables.some((v) => v.name === name)) {
      const names = view.variables.map((v) => v.name).join(', ') || 'none';
      throw new AppError('invalid_parameters', `This dashboard has no variable "${name}"; it has ${names}.`);
    }
    for (const widget of view.widgets) {
      if (widget.error?.code === 'insight_deleted') continue;
      const parameter = (widget.insight.parameters as InsightParameter[]).find((p) => p.name === name);
      if (parameter) bindValue(parameter, value);
    }
    values[name] = value;
  }
  return values;
}

export const viewDashboard: ToolHandler<'view_dashboard'> = async (input, ctx) => {
  const view = await dashboardView(ctx, ctx.principal.environmentId, input.id, { includeData: input.include_data });
  return { ...view, url: dashboardPageUrl(ctx.config.publicUrl, view.dashboard.id) };
};

const insightDeleted = (id: string, at: Date) => ({
  code: 'insight_deleted' satisfies ErrorCode,
  message: `The insight ${id} of this widget was deleted at ${iso(at)}; replace or remove the widget (update_dashboard).`,
});

/** A hard delete: the widgets go with the dashboard (ON DELETE CASCADE); their insights stay. */
export const deleteDashboard: ToolHandler<'delete_dashboard'> = async (input, ctx) => {
  const row = await ctx.db
    .deleteFrom('dashboards')
    .where('environment_id', '=', ctx.principal.environmentId)
    .where('id', '=', input.id)
    .returning('id')
    .executeTakeFirst();
  return deleteResult(ctx, 'dashboard', input.id, row !== undefined);
};
