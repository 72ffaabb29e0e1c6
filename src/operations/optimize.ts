import type { ToolHandler, ToolIO } from '../generated/handlers.js';
import {
  duckCost,
  duckFindings,
  pgCost,
  pgFindings,
  sqlFacts,
  type Finding,
  type Rule,
  type SqlFacts,
} from '../lakehouse/advice/plan-findings.js';
import { UnreadableSql } from '../lakehouse/advice/sql-tokens.js';
import { removeUnseenSubqueryOrders } from '../lakehouse/advice/subquery-order.js';
import { BUILT_IN_CONNECTIONS, isBuiltIn, type TableDescription } from '../lakehouse/lakehouse.js';
import type { ToolContext } from './context.js';

// optimize_sql (issue 17, item 4; docs/sql-advice.md): explain_sql's plan read for what makes a query slow,
// and the one rewrite that provably returns the same rows, offered only when the engine estimates it cheaper.
// Nothing runs: both statements are only planned, through the same guard as query_lakehouse.

type Output = ToolIO['optimize_sql']['output'];

/** Worst first: what multiplies the work, then what reads or sorts too much, then what only reads better. */
const RULE_ORDER: Rule[] = [
  'exploding_join',
  'sort_spill',
  'full_scan',
  'distinct_count',
  'subquery_order_by',
  'select_star',
  'having_filter',
];

const PLAN_TIMEOUT_MS = 15_000;

interface Planned {
  cost: number;
  findings: Finding[];
}

async function plan(
  ctx: ToolContext,
  connection: string,
  sql: string,
  facts: SqlFacts | undefined,
  tables: TableDescription[],
): Promise<Planned> {
  const env = ctx.principal.environmentId;
  const { plan } = await ctx.lakehouse.explain(env, connection, sql, { analyze: false, timeoutMs: PLAN_TIMEOUT_MS, signal: ctx.signal });
  const empty: SqlFacts = { sql, tokens: [], tableWords: new Set() };
  if (!isBuiltIn(connection)) return { cost: Math.round(pgCost(plan) * 100) / 100, findings: pgFindings(plan, facts ?? empty) };
  const operators = (plan.operators ?? []) as Parameters<typeof duckCost>[0];
  return {
    cost: Math.round(duckCost(operators)),
    findings: duckFindings(operators, facts ?? empty, tables, ctx.config.queryWorkerMemoryMb),
  };
}

/** The tables a built-in connection's bare names may mean: its own first, then the other catalog's. */
async function tablesOf(ctx: ToolContext, connection: string): Promise<TableDescription[]> {
  if (!isBuiltIn(connection)) return [];
  const order = [connection, ...BUILT_IN_CONNECTIONS.filter((c) => c !== connection)] as (typeof BUILT_IN_CONNECTIONS)[number][];
  const described = await Promise.all(
    order.map((c) => ctx.lakehouse.describe(ctx.principal.environmentId, c, { timeoutMs: PLAN_TIMEOUT_MS, signal: ctx.signal })),
  );
  const seen = new Set<string>();
  return described.flat().filter((t) => !seen.has(t.name) && seen.add(t.name));
}

const readSql = (sql: string): SqlFacts | undefined => {
  try {
    return sqlFacts(sql);
  } catch (error) {
    // The engine accepted it (a form this reader does not know): the plan's rules still apply.
    if (error instanceof UnreadableSql) return undefined;
    throw error;
  }
};

export const optimizeSql: ToolHandler<'optimize_sql'> = async ({ sql, connection }, ctx) => {
  ctx.audited.sql = sql;
  const facts = readSql(sql);
  const tables = await tablesOf(ctx, connection);
  const original = await plan(ctx, connection, sql, facts, tables);
  const output: Output = {
    findings: original.findings,
    estimated_cost: original.cost,
    cost_unit: isBuiltIn(connection) ? 'rows' : 'postgres',
  };
  const removal = facts && safely(() => removeUnseenSubqueryOrders(sql));
  if (removal) {
    const rewritten = await plan(ctx, connection, removal.sql, readSql(removal.sql), tables).catch(() => undefined);
    if (rewritten && rewritten.cost < original.cost) {
      output.findings.push({
        rule: 'subquery_order_by',
        message: `An ORDER BY without LIMIT inside a subquery sorts rows whose order the outer query does not keep: the rewrite drops it (estimated cost ${original.cost.toLocaleString('en-US')} → ${rewritten.cost.toLocaleString('en-US')}).`,
      });
      output.rewrite = { sql: removal.sql, estimated_cost: rewritten.cost, changes: removal.changes };
    }
  }
  output.findings.sort((a, b) => RULE_ORDER.indexOf(a.rule as Rule) - RULE_ORDER.indexOf(b.rule as Rule));
  return output;
};

function safely<T>(work: () => T): T | undefined {
  try {
    return work();
  } catch (error) {
    if (error instanceof UnreadableSql) return undefined;
    throw error;
  }
}
