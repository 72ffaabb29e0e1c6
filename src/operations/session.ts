import { sql } from 'kysely';
import type { ToolHandler } from '../generated/handlers.js';
import { BUILT_IN_CONNECTIONS } from '../lakehouse/sandbox.js';
import { builtInModels } from '../lakehouse/semantic-models.js';

interface Counts {
  connections: number;
  semantic_models: number;
  insights: number;
  dashboards: number;
  memories: number;
}

/**
 * get_session_context: who and where come from the verified token; what the environment holds is one
 * query of sub-counts (an index lookup per table, each keyed by environment_id). The built-in connections
 * (`lakehouse`, `sample`) and the sample data's semantic models are part of every environment by definition,
 * not rows, so they are added here.
 */
export const getSessionContext: ToolHandler<'get_session_context'> = async (_input, { principal, protocolVersion, db }) => {
  const env = principal.environmentId;
  const result = await sql<Counts>`
    SELECT (SELECT count(*) FROM connections WHERE environment_id = ${env})::int AS connections,
           (SELECT count(*) FROM semantic_models WHERE environment_id = ${env})::int AS semantic_models,
           (SELECT count(*) FROM insights WHERE environment_id = ${env})::int AS insights,
           (SELECT count(*) FROM dashboards WHERE environment_id = ${env})::int AS dashboards,
           (SELECT count(*) FROM memories WHERE environment_id = ${env})::int AS memories`.execute(db);
  const counts = result.rows[0] ?? { connections: 0, semantic_models: 0, insights: 0, dashboards: 0, memories: 0 };
  return {
    organization: { id: principal.organizationId, name: principal.organization },
    environment: { id: principal.environmentId, name: principal.environment },
    subject: { kind: principal.kind, id: principal.subject, name: principal.subjectName },
    client: { id: principal.clientId, name: principal.clientName },
    scopes: [...principal.scopes].sort(),
    ...(protocolVersion === undefined ? {} : { protocol_version: protocolVersion }),
    holds: {
      connections: BUILT_IN_CONNECTIONS.length + counts.connections,
      semantic_models: builtInModels().length + counts.semantic_models,
      insights: counts.insights,
      dashboards: counts.dashboards,
      memories: counts.memories,
    },
  };
};
