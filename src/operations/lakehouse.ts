import type { ToolHandler } from '../generated/handlers.js';
import { SqlError } from '../lakehouse/sandbox.js';
import { checkReadStatement, SqlRefused } from '../lakehouse/sql-guard.js';
import { summarizePlan } from '../lakehouse/plan-summary.js';

/** 1 MiB of rows per answer at most (specs/tools/query_lakehouse.yaml). */
const MAX_BYTES = 1024 * 1024;

export const queryLakehouse: ToolHandler<'query_lakehouse'> = async (input, ctx) => {
  ctx.audited.sql = input.sql;
  const { sql, connection, limit, offset, timeout_ms } = input;
  return ctx.lakehouse.query(ctx.principal.environmentId, connection, sql, {
    limit,
    offset,
    timeoutMs: timeout_ms,
    maxBytes: MAX_BYTES,
    signal: ctx.signal,
  });
};

export const validateSql: ToolHandler<'validate_sql'> = async (input, ctx) => {
  ctx.audited.sql = input.sql;
  const { sql, connection } = input;
  let checked;
  try {
    checked = checkReadStatement(sql);
  } catch (error) {
    if (error instanceof SqlRefused) return { valid: false, errors: [error.problem] };
    throw error;
  }
  // The planner finds unknown tables, columns and functions without running anything.
  const offset = sql.indexOf(checked.text);
  try {
    await ctx.lakehouse.explain(ctx.principal.environmentId, connection, checked, {
      analyze: false,
      timeoutMs: 5_000,
      signal: ctx.signal,
    });
  } catch (error) {
    if (error instanceof SqlError) {
      return {
        valid: false,
        statement_type: checked.statementType,
        errors: [
          {
            message: error.message,
            ...(error.position !== undefined ? { position: error.position + Math.max(0, offset) } : {}),
            ...(error.hint ? { hint: error.hint } : {}),
          },
        ],
      };
    }
    throw error;
  }
  return { valid: true, errors: [], statement_type: checked.statementType };
};

export const explainSql: ToolHandler<'explain_sql'> = async (input, ctx) => {
  ctx.audited.sql = input.sql;
  const { sql, connection, analyze, timeout_ms } = input;
  const checked = checkReadStatement(sql);
  const plan = (await ctx.lakehouse.explain(ctx.principal.environmentId, connection, checked, {
    analyze,
    timeoutMs: timeout_ms,
    signal: ctx.signal,
  })) as Record<string, unknown>;
  return { plan, summary: summarizePlan(plan, analyze) };
};
