import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { chartSvg, type ChartSpec } from '../assets/chart.js';
import { FONT_FILES, type FontFile } from '../assets/chart-font.js';
import { dashboardData, dashboardOutline, variableValues, type DashboardView } from '../assets/dashboards.js';
import type { Scalar } from '../assets/insight-run.js';
import { AppError } from '../errors.js';
import { abortWhenClientLeaves } from '../http/client-gone.js';
import { toolCallLimitMessage } from '../http/rate-limit.js';
import { toAppError } from '../http/problem.js';
import { sendStaticFile, staticFile, type StaticFile } from '../http/static-file.js';
import type { AuditOutcome } from '../operations/audit.js';
import { auditOutcomeOf } from '../operations/invoke-tool.js';
import type { BrowserSession } from '../oauth/browser-session.js';
import type { AppContext, KoaOperationHandler, OperationContext } from '../operations/context.js';
import { sendHtmlPage } from '../oauth/html-response.js';
import { errorPage } from '../oauth/pages.js';
import { chartSize, dashboardPage, type WidgetChart } from './dashboard-page.js';
import { requireSession } from './require-session.js';

// GET /dashboards/{id} (x-handler: koa in specs/openapi.yaml): a dashboard as a web page for a signed-in member
// of its environment, and GET /fonts/{file}, the typeface that page and its charts use.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** One answer for an unknown id and for another environment's dashboard: the page does not tell them apart. */
function notFound(ctx: AppContext): void {
  sendHtmlPage(
    ctx,
    404,
    errorPage(
      'Dashboard not found',
      'There is no dashboard at this address in the environments you are a member of.',
      'Check the link, or ask an admin of its environment to add you as a member.',
    ),
  );
}

/** The environment (and its organization) of dashboard `id` when the session's user is a member of it (any role). */
async function memberEnvironment(services: OperationContext, userId: string, id: string) {
  return services.db
    .selectFrom('dashboards as d')
    .innerJoin('memberships as m', 'm.environment_id', 'd.environment_id')
    .innerJoin('environments as e', 'e.id', 'd.environment_id')
    .select(['d.environment_id as environmentId', 'e.organization_id as organizationId'])
    .where('d.id', '=', id)
    .where('m.user_id', '=', userId)
    .executeTakeFirst();
}

/** The query string as one text value per name; a repeated name is a mistake of the link. */
function givenValues(query: AppContext['query']): Record<string, string> {
  const given: Record<string, string> = {};
  for (const [name, value] of Object.entries(query)) {
    if (typeof value !== 'string')
      throw new AppError('invalid_parameters', `The variable "${name}" is given more than once; give it once.`);
    if (value.length > 1000) throw new AppError('invalid_parameters', `The value of "${name}" is longer than 1,000 characters.`);
    given[name] = value;
  }
  return given;
}

/** Each widget's chart as SVG (not for tables, whose rows the page lists), drawn one after the other. */
async function widgetCharts(view: DashboardView): Promise<(WidgetChart | undefined)[]> {
  const charts: (WidgetChart | undefined)[] = [];
  for (const widget of view.widgets) {
    const spec: ChartSpec = widget.insight.chart;
    if (!widget.data || spec.kind === 'table') {
      charts.push(undefined);
      continue;
    }
    const { width, height } = chartSize(widget.w, widget.h);
    try {
      // The heading is the widget's own <h2>: the chart is drawn without a title of its own.
      charts.push({ svg: await chartSvg({ elapsed_ms: 0, ...widget.data }, { ...spec, title: '' }, '', width, height) });
    } catch (error) {
      if (!(error instanceof AppError) || !error.expose) throw error;
      charts.push({ error: error.message });
    }
  }
  return charts;
}

const formText = (value: Scalar | undefined) => (value === undefined ? '' : String(value));

export const showDashboardPage: KoaOperationHandler = async (ctx, services) => {
  const session = await requireSession(ctx, services.oauth);
  if (!session) return;
  const id = ((ctx.params as Record<string, string | undefined>).id ?? '').toLowerCase();
  const found = UUID.test(id) ? await memberEnvironment(services, session.userId, id) : undefined;
  if (!found) return notFound(ctx);
  // A view runs every widget, as view_dashboard with include_data does: it counts as one tool call of the
  // environment (TOOL_CALL_LIMIT) and is audited as the user's `showDashboardPage`.
  const admission = services.limiters.toolCalls.take(found.environmentId);
  if (!admission.ok) {
    ctx.set('Retry-After', String(admission.retryAfter));
    return sendHtmlPage(ctx, 429, errorPage('Too many requests', toolCallLimitMessage(admission), 'Reload the page in a minute.'));
  }
  const started = performance.now();
  let outcome: AuditOutcome = 'ok';
  const controller = new AbortController();
  const stopWatching = abortWhenClientLeaves(ctx.res, controller);
  try {
    await renderPage(ctx, services, session, found.environmentId, id, controller.signal);
  } catch (error) {
    outcome = auditOutcomeOf(toAppError(error));
    throw error;
  } finally {
    stopWatching();
    services.audit.record({
      actor: `user:${session.userId}`,
      clientId: null,
      organizationId: found.organizationId,
      environmentId: found.environmentId,
      operation: 'showDashboardPage',
      outcome,
      durationMs: Math.round(performance.now() - started),
    });
  }
};

async function renderPage(
  ctx: AppContext,
  services: OperationContext,
  session: BrowserSession,
  environmentId: string,
  id: string,
  signal: AbortSignal,
): Promise<void> {
  const seen = { db: services.db, lakehouse: services.lakehouse, signal };
  const outline = await dashboardOutline(services.db, environmentId, id);
  // URLs relative to the page, which works wherever it is served: under PUBLIC_URL (the URL view_dashboard gives)
  // or under ISSUER_URL's origin, where sign-in returns when the two differ, and behind a proxy's path prefix.
  const page = { action: id, fontUrl: (file: FontFile) => `../fonts/${file}`, email: session.email };
  const defaults = Object.fromEntries(outline.variables.map((v) => [v.name, formText(v.default)]));
  let given: Record<string, string> = {};
  let values: Record<string, Scalar>;
  try {
    given = givenValues(ctx.query);
    values = variableValues(outline, given);
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    const html = dashboardPage({ ...page, view: outline, values: { ...defaults, ...given }, formError: error.message });
    return sendHtmlPage(ctx, 400, html, [], { fonts: true });
  }
  const view = await dashboardData(seen, environmentId, outline, values);
  const html = dashboardPage({ ...page, view, charts: await widgetCharts(view), values: { ...defaults, ...given } });
  sendHtmlPage(ctx, 200, html, [], { fonts: true });
}

/** The font files, each read on its first request. */
const fonts = new Map<FontFile, StaticFile>();

function font(file: FontFile): StaticFile {
  let entry = fonts.get(file);
  if (!entry) {
    entry = staticFile(fs.readFileSync(FONT_FILES[file]));
    fonts.set(file, entry);
  }
  return entry;
}

export const getFont: KoaOperationHandler = async (ctx) => {
  const file = (ctx.params as Record<string, string | undefined>).file ?? '';
  if (!Object.hasOwn(FONT_FILES, file)) {
    ctx.status = 404;
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = 'No such font.';
    return;
  }
  sendStaticFile(ctx, font(file as FontFile), 'font/ttf');
};

/** Koa handlers of the dashboard page and its fonts, for `koaOperationHandlers` in src/operations/index.ts. */
export const dashboardPageKoaHandlers = { showDashboardPage, getFont };
