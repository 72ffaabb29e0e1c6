import type { ToolContext } from '../operations/context.js';

/** What every delete tool answers: `deleted: false` when the environment had no such asset (idempotent). */
export interface DeleteResult {
  deleted: boolean;
}

/**
 * The common tail of a delete tool: records which asset the audit row is about and answers the result.
 * `deleted` is false both for an id already deleted and for one of another environment, so an id of
 * another environment reveals nothing.
 */
export function deleteResult(ctx: ToolContext, kind: string, id: string, deleted: boolean): DeleteResult {
  ctx.audited.detail = { kind, id: id.toLowerCase(), deleted };
  return { deleted };
}
