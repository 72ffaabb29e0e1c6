import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { ToolHandler } from '../generated/handlers.js';
import { BUILT_IN_CONNECTIONS } from '../lakehouse/lakehouse.js';
import { builtInModels } from '../lakehouse/semantic-models.js';
import { DEFAULT_TIME_ZONE, formatInZone } from '../time/time-zone.js';
import { tableTimeRanges } from './time-ranges.js';

interface Counts {
  /** Not counts: the environment's time zone and scan budget ride along in the same cached statement. */
  time_zone: string | null;
  scan_budget_rows: number | null;
  scan_budget_bytes: number | null;
  connections: number;
  semantic_models: number;
  insights: number;
  dashboards: number;
  memories: number;
}

// get_session_context: who and where come from the verified token; what the environment holds is one query of
// sub-counts. The built-in connections (`lakehouse`, `sample`) and the sample data's semantic models are part of
// every environment by definition, not rows, so they are added here.

/**
 * Counts are kept per environment for a few seconds, so that the hot path (agents call this tool often) does no
 * database round trip of its own (README.md, "Performance"); a count may lag a change by up to COUNTS_TTL_MS.
 */
const COUNTS_TTL_MS = 5_000;
const countsCache = new Map<string, { at: number; counts: Promise<Counts> }>();

function countsOf(db: Kysely<Database>, env: string): Promise<Counts> {
  const now = Date.now();
  const cached = countsCache.get(env);
  if (cached && now - cached.at < COUNTS_TTL_MS) return cached.counts;
  const counts = queryCounts(db, env);
  countsCache.set(env, { at: now, counts });
  // A failed query is not cached: the next call asks again.
  counts.catch(() => countsCache.delete(env));
  if (countsCache.size > 10_000) countsCache.delete(countsCache.keys().next().value ?? '');
  return counts;
}

async function queryCounts(db: Kysely<Database>, env: string): Promise<Counts> {
  // One statement: the environment's row, with one scalar subquery per table (an index lookup each, keyed by
  // environment_id).
  const row = await db
    .selectFrom('environments')
    .select((eb) => {
      const count = (table: 'connections' | 'semantic_models' | 'dashboards' | 'memories') =>
        eb
          .selectFrom(table)
          .select((c) => c.cast<number>(c.fn.countAll(), 'integer').as('n'))
          .where('environment_id', '=', env)
          .$asScalar();
      return [
        'time_zone',
        'scan_budget_rows',
        'scan_budget_bytes',
        count('connections').as('connections'),
        count('semantic_models').as('semantic_models'),
        eb
          .selectFrom('insights')
          .select((c) => c.cast<number>(c.fn.countAll(), 'integer').as('n'))
          .where('environment_id', '=', env)
          .where('deleted_at', 'is', null)
          .$asScalar()
          .as('insights'),
        count('dashboards').as('dashboards'),
        count('memories').as('memories'),
      ];
    })
    .where('id', '=', env)
    .executeTakeFirst();
  // An environment removed while its token lives holds nothing.
  return (
    row ?? {
      time_zone: null,
      scan_budget_rows: null,
      scan_budget_bytes: null,
      connections: 0,
      semantic_models: 0,
      insights: 0,
      dashboards: 0,
      memories: 0,
    }
  );
}

export const getSessionContext: ToolHandler<'get_session_context'> = async (_input, { principal, protocolVersion, db, lakehouse }) => {
  const counts = await countsOf(db, principal.environmentId);
  const zone = counts.time_zone ?? DEFAULT_TIME_ZONE;
  const timeRanges = await tableTimeRanges(db, lakehouse, principal.environmentId, zone);
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
    time_zone: zone,
    ...(counts.scan_budget_rows !== null || counts.scan_budget_bytes !== null
      ? {
          scan_budget: {
            ...(counts.scan_budget_rows !== null ? { rows: counts.scan_budget_rows } : {}),
            ...(counts.scan_budget_bytes !== null ? { bytes: counts.scan_budget_bytes } : {}),
          },
        }
      : {}),
    now: formatInZone(zone, Date.now()),
    time_ranges: timeRanges,
  };
};
