import type { ToolHandler } from '../generated/handlers.js';

/**
 * Every environment has the two built-in connections of CONTRACT.md ("Data"): `lakehouse`, its own schema,
 * and `sample`. They are part of the environment by definition, not rows of a table, so they count even
 * before the lakehouse module provisions them.
 */
const BUILT_IN_CONNECTIONS = 2;

/**
 * get_session_context: everything here comes from the verified token, so the call does no database
 * round trip of its own (DESIGN.md §5, the hot path).
 *
 * TODO(assets): the connections, semantic_models, insights, dashboards and memories tables do not exist
 * yet; their counts are 0 (plus the built-in connections) until they do. Counting them will need one query
 * (a single SELECT of sub-counts, per environment).
 */
export const getSessionContext: ToolHandler<'get_session_context'> = async (_input, { principal, protocolVersion }) => ({
  organization: { id: principal.organizationId, name: principal.organization },
  environment: { id: principal.environmentId, name: principal.environment },
  subject: { kind: principal.kind, id: principal.subject, name: principal.subjectName },
  client: { id: principal.clientId, name: principal.clientName },
  scopes: [...principal.scopes].sort(),
  ...(protocolVersion === undefined ? {} : { protocol_version: protocolVersion }),
  holds: { connections: BUILT_IN_CONNECTIONS, semantic_models: 0, insights: 0, dashboards: 0, memories: 0 },
});
