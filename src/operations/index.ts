import { listAuditLog } from './audit-trail.js';
import type { KoaOperationHandlers, OperationHandlers, ToolHandlers } from '../generated/handlers.js';
import { getApiReference, getApiReferenceScript, listToolCatalogue } from './contract.js';
import { getDoc, searchDocs } from './docs.js';
import { getHealth, getMetrics, getOpenApi, getReadiness } from './health.js';
import { getSessionContext } from './session.js';
import { getConnection, listConnections, listEvents } from './catalog.js';
import { cancelQueryJob, startQueryJob, viewQueryJob } from './jobs.js';
import { explainSql, queryLakehouse, validateSql } from './lakehouse.js';
import { getSemanticModel, listSemanticModels, querySemanticModel } from './semantic-models.js';
import { loadLakehouseTable } from './load.js';
import { optimizeSql } from './optimize.js';
import { searchEntities } from './search-entities.js';
import { queryFunnel, queryRetention, querySegmentation } from './analytics.js';
import { createDiscovery, deleteDiscovery, listDiscoveries, viewDiscovery } from '../assets/discoveries.js';
import { approveDiscovery, rejectDiscovery } from '../assets/discovery-routes.js';
import { createDashboard, deleteDashboard, listDashboards, updateDashboard, viewDashboard } from '../assets/dashboards.js';
import { createInsight, deleteInsight, listInsights, renderInsight, updateInsight, viewInsight } from '../assets/insights.js';
import { createMemory, deleteMemory, searchMemories } from '../assets/memories.js';
import { createNotification, listNotifications } from '../assets/notifications.js';
import { createTask, deleteTask, listTasks, updateTask, viewTask } from '../assets/tasks.js';
import { dashboardPageKoaHandlers } from '../account/dashboard-routes.js';
import { accountKoaHandlers } from '../account/routes.js';
import { downloadExport } from './exports.js';
import { getProtectedResourceMetadata, getProtectedResourceMetadataV1, oauthKoaHandlers } from '../oauth/routes.js';

/** Every tool's implementation: `tsc` fails when one is missing, extra or of the wrong type. */
export const toolHandlers = {
  search_docs: searchDocs,
  get_doc: getDoc,
  get_session_context: getSessionContext,
  list_connections: listConnections,
  get_connection: getConnection,
  list_events: listEvents,
  query_lakehouse: queryLakehouse,
  start_query_job: startQueryJob,
  view_query_job: viewQueryJob,
  cancel_query_job: cancelQueryJob,
  validate_sql: validateSql,
  explain_sql: explainSql,
  optimize_sql: optimizeSql,
  search_entities: searchEntities,
  list_semantic_models: listSemanticModels,
  get_semantic_model: getSemanticModel,
  query_semantic_model: querySemanticModel,
  query_funnel: queryFunnel,
  query_retention: queryRetention,
  query_segmentation: querySegmentation,
  create_memory: createMemory,
  search_memories: searchMemories,
  delete_memory: deleteMemory,
  create_notification: createNotification,
  list_notifications: listNotifications,
  create_discovery: createDiscovery,
  list_discoveries: listDiscoveries,
  view_discovery: viewDiscovery,
  delete_discovery: deleteDiscovery,
  create_insight: createInsight,
  list_insights: listInsights,
  view_insight: viewInsight,
  update_insight: updateInsight,
  render_insight: renderInsight,
  delete_insight: deleteInsight,
  create_dashboard: createDashboard,
  list_dashboards: listDashboards,
  view_dashboard: viewDashboard,
  update_dashboard: updateDashboard,
  delete_dashboard: deleteDashboard,
  create_task: createTask,
  list_tasks: listTasks,
  view_task: viewTask,
  update_task: updateTask,
  delete_task: deleteTask,
} satisfies ToolHandlers;

/** Every typed REST operation that is not a tool. */
export const operationHandlers = {
  getHealth,
  getReadiness,
  getMetrics,
  getOpenApi,
  getProtectedResourceMetadata,
  getProtectedResourceMetadataV1,
  listToolCatalogue,
  approveDiscovery,
  rejectDiscovery,
  listAuditLog,
} satisfies OperationHandlers;

/** Operations served by their own Koa middleware (sign-in pages, OAuth endpoints). */
export const koaOperationHandlers = {
  ...oauthKoaHandlers,
  ...accountKoaHandlers,
  ...dashboardPageKoaHandlers,
  getApiReference,
  getApiReferenceScript,
  loadLakehouseTable,
  downloadExport,
} satisfies KoaOperationHandlers;
