import { sql } from 'kysely';
import { AppError } from '../errors.js';
import type { ToolHandler, ToolIO } from '../generated/handlers.js';
import { actorOf, compact, iso } from './common.js';
import { deleteResult } from './delete-asset.js';
import { createOnce } from './idempotency.js';

type Memory = ToolIO['create_memory']['output'];

/** CONTRACT/issue: a memory holds at most 8 KiB of UTF-8 (the schema's maxLength counts characters). */
export const MAX_MEMORY_BYTES = 8192;

/** search_memories' half-life of recency, in days (the formula is in the tool's description and docs/). */
export const MEMORY_HALF_LIFE_DAYS = 30;

interface MemoryRow {
  id: string;
  content: string;
  type: Memory['type'];
  importance: number;
  tags: string[];
  source: string | null;
  created_by: string;
  created_at: Date;
}

const toMemory = (row: MemoryRow): Memory =>
  compact({
    id: row.id,
    content: row.content,
    type: row.type,
    importance: row.importance,
    tags: row.tags,
    source: row.source,
    created_by: row.created_by,
    created_at: iso(row.created_at),
  });

export const createMemory: ToolHandler<'create_memory'> = async (input, ctx) => {
  const bytes = Buffer.byteLength(input.content, 'utf8');
  if (bytes > MAX_MEMORY_BYTES) {
    throw new AppError(
      'payload_too_large',
      `content is ${bytes} bytes in UTF-8; a memory holds at most ${MAX_MEMORY_BYTES}. Split it or summarise it.`,
    );
  }
  const { principal } = ctx;
  return createOnce(ctx.db, { environmentId: principal.environmentId, tool: 'create_memory' }, input, async (trx) => {
    const row = await trx
      .insertInto('memories')
      .values({
        environment_id: principal.environmentId,
        content: input.content,
        type: input.type,
        // Stored as a 4-byte real: keep 6 decimals, so that a value like 2e-59 does not underflow in Postgres.
        importance: Math.round(input.importance * 1e6) / 1e6,
        tags: input.tags ?? [],
        source: input.source ?? null,
        created_by: actorOf(principal),
      })
      .returning(['id', 'content', 'type', 'importance', 'tags', 'source', 'created_by', 'created_at'])
      .executeTakeFirstOrThrow();
    return toMemory(row);
  });
};

/**
 * score = ts_rank_cd(search, query, 32) × (0.1 + 0.9 × importance) × 0.5^(age_days / 30)
 * ts_rank_cd with normalisation 32 is rank / (rank + 1), in 0–1; tags are weighted A, content B.
 */
export const searchMemories: ToolHandler<'search_memories'> = async (input, ctx) => {
  const limit = input.limit;
  let query = ctx.db
    .selectFrom(['memories', sql`websearch_to_tsquery('english', ${input.query})`.as('q')])
    .select(['id', 'content', 'type', 'importance', 'tags', 'source', 'created_by', 'created_at'])
    .select(
      sql<number>`ts_rank_cd(search, q, 32) * (0.1 + 0.9 * importance) * power(0.5, extract(epoch FROM now() - created_at) / 86400.0 / ${MEMORY_HALF_LIFE_DAYS})`.as(
        'score',
      ),
    )
    .where('environment_id', '=', ctx.principal.environmentId)
    .where(sql<boolean>`search @@ q`);
  if (input.type) query = query.where('type', '=', input.type);
  if (input.tags && input.tags.length > 0) query = query.where('tags', '@>', sql<string[]>`${input.tags}::text[]`);
  const rows = await query.orderBy('score', 'desc').orderBy('created_at', 'desc').orderBy('id').limit(limit).execute();
  return { items: rows.map((row) => ({ memory: toMemory(row), score: Number(row.score) })) };
};

export const deleteMemory: ToolHandler<'delete_memory'> = async (input, ctx) => {
  const row = await ctx.db
    .deleteFrom('memories')
    .where('environment_id', '=', ctx.principal.environmentId)
    .where('id', '=', input.id)
    .returning('id')
    .executeTakeFirst();
  return deleteResult(ctx, 'memory', input.id, row !== undefined);
};
