import type { ToolName } from '../generated/handlers.js';

/**
 * Named groups of tools a client may narrow its catalogue to with the MCP URL's query string
 * (`/v1?tools=sql,docs&read_only=true`). A narrower URL only hides tools: the token's scopes still decide what
 * may run, and the OAuth resource and token audience stay `PUBLIC_URL/v1` whatever the query string says.
 */
export const TOOL_GROUPS = {
  sql: [
    'list_connections',
    'get_connection',
    'list_events',
    'query_lakehouse',
    'validate_sql',
    'explain_sql',
    'optimize_sql',
    'start_query_job',
    'view_query_job',
    'cancel_query_job',
  ],
  semantic: ['list_semantic_models', 'get_semantic_model', 'query_semantic_model'],
  assets: [
    'list_insights',
    'view_insight',
    'create_insight',
    'update_insight',
    'delete_insight',
    'render_insight',
    'list_dashboards',
    'view_dashboard',
    'create_dashboard',
    'update_dashboard',
    'delete_dashboard',
    'list_discoveries',
    'view_discovery',
    'create_discovery',
    'delete_discovery',
    'create_memory',
    'search_memories',
    'delete_memory',
    'list_notifications',
    'create_notification',
  ],
  docs: ['search_docs', 'get_doc', 'search_entities'],
  tasks: ['create_task', 'list_tasks', 'view_task', 'update_task', 'delete_task'],
  analytics: ['query_funnel', 'query_retention', 'query_segmentation'],
} as const satisfies Record<string, readonly ToolName[]>;

/** Every narrowed catalogue keeps this one: it tells the agent who and where it is. */
export const ALWAYS_LISTED: ToolName = 'get_session_context';

export type ToolGroup = keyof typeof TOOL_GROUPS;
const GROUP_NAMES = Object.keys(TOOL_GROUPS) as ToolGroup[];

/** What a URL's query string leaves of the catalogue: `tools` undefined means every tool. */
export interface CatalogueView {
  tools?: ReadonlySet<string>;
  readOnly: boolean;
  /** A stable key for caching the list this view gives. */
  key: string;
}

export const FULL_VIEW: CatalogueView = { readOnly: false, key: '' };

export class CatalogueViewError extends Error {}

/** Reads `tools` and `read_only` from the MCP URL's query string; anything malformed is an error saying what is accepted. */
export function catalogueView(query: URLSearchParams): CatalogueView {
  const groupsParam = query.getAll('tools');
  const readOnlyParam = query.getAll('read_only');
  if (groupsParam.length === 0 && readOnlyParam.length === 0) return FULL_VIEW;
  if (groupsParam.length > 1 || readOnlyParam.length > 1)
    throw new CatalogueViewError('Give `tools` and `read_only` at most once in the URL.');
  const readOnlyText = readOnlyParam[0];
  if (readOnlyText !== undefined && readOnlyText !== 'true' && readOnlyText !== 'false') {
    throw new CatalogueViewError('`read_only` in the URL must be true or false.');
  }
  const readOnly = readOnlyText === 'true';
  let tools: Set<string> | undefined;
  const groups = groupsParam[0]?.split(',').map((g) => g.trim());
  if (groups !== undefined) {
    const unknown = groups.find((g) => !GROUP_NAMES.includes(g as ToolGroup));
    if (unknown !== undefined) {
      throw new CatalogueViewError(
        `Unknown tool group ${JSON.stringify(unknown.slice(0, 40))} in the URL; the groups are ${GROUP_NAMES.join(', ')}.`,
      );
    }
    tools = new Set([ALWAYS_LISTED, ...groups.flatMap((g) => TOOL_GROUPS[g as ToolGroup])]);
  }
  const key = `${tools ? [...new Set(groups)].sort().join(',') : '*'}|${readOnly}`;
  return { ...(tools ? { tools } : {}), readOnly, key };
}

/** Whether this view shows a tool of this scope. */
export function viewShows(view: CatalogueView, tool: { name: string; scope: 'read' | 'write' }): boolean {
  return (view.tools === undefined || view.tools.has(tool.name)) && !(view.readOnly && tool.scope === 'write');
}
