import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database } from '../../db/schema.js';
import { AppError } from '../../errors.js';
import type { DB } from '../../generated/db.js';
import type { Logger } from '../../logger.js';
import { formatBytes } from '../format-bytes.js';

// Full query results kept as files for a while (issue 18): query tools' `export` (kind `export`) and query
// jobs' results (kind `job`). Files live under <root>/<environment id>/<id>.<format>, rows in `result_files`
// (migration 0014). Every read is scoped to an environment and ignores expired rows; the sweep removes
// expired rows and their files (any process, any number of them). The server, never the caller, picks paths.

export type ResultKind = 'export' | 'job';
export type ResultFormat = 'csv' | 'parquet';

export const RESULT_MIME_TYPES: Record<ResultFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  parquet: 'application/vnd.apache.parquet',
};

export interface ResultFile {
  id: string;
  environmentId: string;
  kind: ResultKind;
  format: ResultFormat;
  rows: number;
  bytes: number;
  createdAt: Date;
  expiresAt: Date;
  /** Where it is on disk. */
  file: string;
}

export interface ResultSettings {
  /** The most one result may reach (EXPORT_MAX_BYTES). */
  maxBytes: number;
  /** How long a result is kept (RESULT_TTL_HOURS). */
  ttlMs: number;
  /** Bytes of results one environment may hold, those being written included (RESULT_QUOTA_BYTES). */
  quotaBytes: number;
  /** Results one environment may write at once (EXPORT_CONCURRENCY_PER_ENV). */
  concurrencyPerEnv: number;
  /** A result still `writing` after this long has lost its writer: it no longer counts and is swept (1 h). */
  staleWritingMs?: number;
}

/**
 * Writes a result to `file` (the store picked it; its folder exists), at most `maxBytes` of it: past that it
 * throws AppError `export_too_large` (the store removes what was written and says why). Answers the rows.
 */
export type ResultWriter = (file: string, maxBytes: number) => Promise<{ rows: number }>;

type Row = Selectable<DB['result_files']>;

const STALE_WRITING_MS = 3_600_000;

export class ResultStore {
  private readonly staleWritingMs: number;

  constructor(
    private readonly db: Kysely<Database>,
    /** DATA_DIR/results */
    readonly root: string,
    readonly settings: ResultSettings,
  ) {
    this.staleWritingMs = settings.staleWritingMs ?? STALE_WRITING_MS;
  }

  /** The folder of an environment's results (a DuckDB worker may write there, and only there). */
  directoryOf(environmentId: string): string {
    return path.join(this.root, environmentId);
  }

  /**
   * Writes one result of an environment under its quota and concurrency limit: refused first (nothing
   * written) with `too_many_exports` or `export_quota_exceeded`; then `writer` writes the file, capped at
   * EXPORT_MAX_BYTES or what is left of the quota. A failure removes the file and the row, and is rethrown.
   */
  async write(
    environmentId: string,
    options: { kind: ResultKind; format: ResultFormat; ttlMs?: number },
    writer: ResultWriter,
  ): Promise<ResultFile> {
    const id = randomUUID();
    const ttlMs = options.ttlMs ?? this.settings.ttlMs;
    const { cap, byQuota } = await this.reserve(environmentId, id, options.kind, options.format, ttlMs);
    const dir = this.directoryOf(environmentId);
    const file = path.join(dir, `${id}.${options.format}`);
    try {
      fs.mkdirSync(dir, { recursive: true });
      const { rows } = await writer(file, cap);
      const bytes = fs.statSync(file).size;
      if (bytes > cap) throw new AppError('export_too_large', 'over the cap');
      const row = await this.db
        .updateTable('result_files')
        .set({ state: 'ready', rows, bytes })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      return this.toFile(row);
    } catch (error) {
      await this.discard(id, file);
      if (error instanceof AppError && error.code === 'export_too_large') await this.tooLarge(cap, byQuota, environmentId);
      throw error;
    }
  }

  /** A ready, unexpired result of the environment (another environment's id is not found, as is garbage). */
  async find(environmentId: string, id: string): Promise<ResultFile | undefined> {
    if (!UUID.test(id)) return undefined;
    const row = await this.db
      .selectFrom('result_files')
      .selectAll()
      .where('id', '=', id)
      .where('environment_id', '=', environmentId)
      .where('state', '=', 'ready')
      .where('expires_at', '>', sql<Date>`now()`)
      .executeTakeFirst();
    return row && this.toFile(row);
  }

  /** The environment's ready, unexpired results, newest first. */
  async list(environmentId: string, limit: number): Promise<ResultFile[]> {
    const rows = await this.db
      .selectFrom('result_files')
      .selectAll()
      .where('environment_id', '=', environmentId)
      .where('state', '=', 'ready')
      .where('expires_at', '>', sql<Date>`now()`)
      .orderBy('created_at', 'desc')
      .limit(limit)
      .execute();
    return rows.map((row) => this.toFile(row));
  }

  /** Removes a result of the environment (file and row); false when there was none. */
  async remove(environmentId: string, id: string): Promise<boolean> {
    if (!UUID.test(id)) return false;
    const row = await this.db
      .deleteFrom('result_files')
      .where('id', '=', id)
      .where('environment_id', '=', environmentId)
      .returning(['id', 'format'])
      .executeTakeFirst();
    if (!row) return false;
    unlinkQuietly(path.join(this.directoryOf(environmentId), `${row.id}.${row.format}`));
    return true;
  }

  /** Bytes the environment's live results hold (reservations of those being written included). */
  async usage(environmentId: string): Promise<{ bytes: number; files: number; writing: number }> {
    const row = await this.live(this.db, environmentId)
      .select((eb) => [
        eb.fn.coalesce(eb.fn.sum<number>('bytes'), sql<number>`0`).as('bytes'),
        eb.fn.countAll<number>().as('files'),
        eb.fn.countAll<number>().filterWhere('state', '=', 'writing').as('writing'),
      ])
      .executeTakeFirstOrThrow();
    return { bytes: Number(row.bytes), files: Number(row.files), writing: Number(row.writing) };
  }

  /**
   * Removes expired results and those whose writer died (rows first, locked with SKIP LOCKED so that
   * several processes share the work, then files); answers how many.
   */
  async sweep(): Promise<number> {
    const gone = await this.db.transaction().execute(async (tx) => {
      const rows = await tx
        .selectFrom('result_files')
        .select(['id', 'environment_id', 'format'])
        .where((eb) =>
          eb.or([
            eb('expires_at', '<=', sql<Date>`now()`),
            eb.and([
              eb('state', '=', 'writing'),
              eb('created_at', '<', sql<Date>`now() - make_interval(secs => ${this.staleWritingMs / 1000})`),
            ]),
          ]),
        )
        .limit(1000)
        .forUpdate()
        .skipLocked()
        .execute();
      if (rows.length > 0)
        await tx
          .deleteFrom('result_files')
          .where(
            'id',
            'in',
            rows.map((r) => r.id),
          )
          .execute();
      return rows;
    });
    for (const row of gone) unlinkQuietly(path.join(this.directoryOf(row.environment_id), `${row.id}.${row.format}`));
    return gone.length;
  }

  /** Sweeps now and every `everyMs` (10 min by default). */
  startSweeping(log: Logger, everyMs = 600_000): { stop(): void } {
    const sweep = () =>
      this.sweep().then(
        (removed) => removed > 0 && log.info({ removed }, 'removed expired result files'),
        (error: unknown) => log.warn({ err: error }, 'sweeping result files failed; retrying later'),
      );
    void sweep();
    const timer = setInterval(() => void sweep(), everyMs);
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }

  /** Checks the limits and inserts the `writing` row, reserving the cap, under a per-environment lock. */
  private reserve(environmentId: string, id: string, kind: ResultKind, format: ResultFormat, ttlMs: number) {
    const { maxBytes, quotaBytes, concurrencyPerEnv } = this.settings;
    return this.db.transaction().execute(async (tx) => {
      // Raw SQL: an advisory lock serializes the check-then-insert of one environment across processes.
      await sql`SELECT pg_advisory_xact_lock(hashtext(${`result_files:${environmentId}`}))`.execute(tx);
      const used = await this.live(tx, environmentId)
        .select((eb) => [
          eb.fn.coalesce(eb.fn.sum<number>('bytes'), sql<number>`0`).as('bytes'),
          eb.fn.countAll<number>().filterWhere('state', '=', 'writing').as('writing'),
          eb.fn.min('expires_at').as('oldest'),
        ])
        .executeTakeFirstOrThrow();
      if (Number(used.writing) >= concurrencyPerEnv) {
        throw new AppError(
          'too_many_exports',
          `This environment is already writing ${Number(used.writing)} results, its maximum at once (EXPORT_CONCURRENCY_PER_ENV). ` +
            'Wait for one to finish (at most its timeout_ms) and retry.',
          { headers: { 'retry-after': '5' } },
        );
      }
      const left = quotaBytes - Number(used.bytes);
      if (left <= 0) throw quotaError(Number(used.bytes), quotaBytes, used.oldest);
      const cap = Math.min(maxBytes, left);
      await tx
        .insertInto('result_files')
        .values({
          id,
          environment_id: environmentId,
          kind,
          format,
          bytes: cap,
          expires_at: sql<Date>`now() + make_interval(secs => ${ttlMs / 1000})`,
        })
        .execute();
      return { cap, byQuota: cap < maxBytes };
    });
  }

  /** The environment's rows that count: unexpired, and not abandoned while writing. */
  private live(db: Kysely<Database>, environmentId: string) {
    return db
      .selectFrom('result_files')
      .where('environment_id', '=', environmentId)
      .where('expires_at', '>', sql<Date>`now()`)
      .where((eb) =>
        eb.or([eb('state', '=', 'ready'), eb('created_at', '>=', sql<Date>`now() - make_interval(secs => ${this.staleWritingMs / 1000})`)]),
      );
  }

  private async tooLarge(cap: number, byQuota: boolean, environmentId: string): Promise<never> {
    if (!byQuota) {
      throw new AppError(
        'export_too_large',
        `The full result is larger than ${formatBytes(cap)} (EXPORT_MAX_BYTES), so nothing was kept. ` +
          'Narrow it (fewer columns, a time range, an aggregate) or use format "parquet" (compressed).',
      );
    }
    const used = await this.live(this.db, environmentId)
      .select((eb) => [eb.fn.coalesce(eb.fn.sum<number>('bytes'), sql<number>`0`).as('bytes'), eb.fn.min('expires_at').as('oldest')])
      .executeTakeFirstOrThrow();
    throw quotaError(Number(used.bytes) + cap, this.settings.quotaBytes, used.oldest);
  }

  private async discard(id: string, file: string): Promise<void> {
    unlinkQuietly(file);
    await this.db.deleteFrom('result_files').where('id', '=', id).execute();
  }

  private toFile(row: Row): ResultFile {
    return {
      id: row.id,
      environmentId: row.environment_id,
      kind: row.kind,
      format: row.format,
      rows: Number(row.rows),
      bytes: Number(row.bytes),
      createdAt: new Date(row.created_at),
      expiresAt: new Date(row.expires_at),
      file: path.join(this.directoryOf(row.environment_id), `${row.id}.${row.format}`),
    };
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function quotaError(used: number, quota: number, oldest: Date | string | null): AppError {
  const when = oldest ? new Date(oldest) : undefined;
  const wait = when ? Math.max(1, Math.ceil((when.getTime() - Date.now()) / 1000)) : 60;
  return new AppError(
    'export_quota_exceeded',
    `This environment's result files would use more than its ${formatBytes(quota)} (RESULT_QUOTA_BYTES; ${formatBytes(used)} in use or being written)` +
      `${when ? `; the oldest expires at ${when.toISOString()}` : ''}. Wait until then, or export less (fewer columns or rows, parquet).`,
    { headers: { 'retry-after': String(wait) } },
  );
}

function unlinkQuietly(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    // Already gone (another process swept it), or never written.
  }
}
