import path from 'node:path';
import { DuckWorkerPool, type DuckPoolOptions } from './pool.js';
import type { StoredTable, TableStore } from './table-store.js';
import type { Catalogs, DuckRows, TableComment } from './worker-protocol.js';
import type { DuckQueryOptions, DuckWorkerOptions } from './worker.js';

// The DuckDB lakehouse of the built-in connections (issue 15): an environment's own tables (`lakehouse`,
// from the table store) and the shared sample (`sample`, read-only Parquet), queried in the environment's
// worker process. Bare names resolve to the environment's tables first, then the sample, so
// `SELECT count(*) FROM events` works as the first query of a new install. Each call checks the committed
// table versions in PostgreSQL: a load committed by any process is seen by the next query.

export interface DuckEngineOptions {
  store: TableStore;
  /** The sample's folder, its tables' files and their comments. */
  sample: { dir: string; files: Record<string, string>; comments?: Record<string, TableComment> };
  /** Where workers may spill (one folder each, under it). */
  tempRoot: string;
  pool: Omit<DuckPoolOptions, 'workerOptions'>;
  worker: Pick<DuckWorkerOptions, 'threads' | 'memoryLimitMb' | 'hardMemoryMb' | 'maxTempMb'>;
  /** The folder of an environment's result files, where its worker may also write (exports). */
  resultsDir?: (environmentId: string) => string;
}

/** A session per built-in connection: its own catalog's names first, then the other's. */
const SEARCH_PATHS = { lakehouse: ['lakehouse.main', 'sample.main'], sample: ['sample.main', 'lakehouse.main'] };

export class DuckEngine {
  private readonly pool: DuckWorkerPool;

  constructor(private readonly options: DuckEngineOptions) {
    this.pool = new DuckWorkerPool({ ...options.pool, workerOptions: (environmentId) => this.workerOptions(environmentId) });
  }

  /**
   * Runs one read statement of an environment's agent on its tables and the sample. The committed table
   * versions are read from PostgreSQL while the statement already runs on the views the worker has (the
   * round trip costs as much as a point lookup's whole overhead): when they differ, that run is cancelled and
   * the statement runs again on the new versions, so a load committed before the call is always seen.
   */
  async query(environmentId: string, sql: string, options: DuckQueryOptions): Promise<DuckRows> {
    const committed = this.options.store.tables(environmentId);
    committed.catch(() => undefined);
    return this.pool.use(environmentId, async (worker) => {
      const shown = worker.catalogVersion;
      const early = new AbortController();
      const signal = options.signal ? AbortSignal.any([options.signal, early.signal]) : early.signal;
      const speculative = worker.query(sql, { ...options, signal });
      // Its answer (or error) waits for the versions below; until then it must not count as unhandled.
      speculative.catch(() => undefined);
      let tables: StoredTable[];
      try {
        tables = await committed;
      } catch (error) {
        early.abort();
        throw error;
      }
      const version = versionOf(tables);
      if (version === shown) return speculative;
      early.abort();
      await speculative.catch(() => undefined);
      await worker.define(this.catalogs(tables), version);
      return worker.query(sql, options);
    });
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private catalogs(tables: StoredTable[]): Catalogs {
    const sample = Object.fromEntries(Object.entries(this.options.sample.files).map(([name, file]) => [name, [file]]));
    return { lakehouse: Object.fromEntries(tables.map((t) => [t.name, t.files])), sample };
  }

  private async workerOptions(environmentId: string): Promise<DuckWorkerOptions> {
    const tables = await this.options.store.tables(environmentId);
    return {
      ...this.options.worker,
      catalogVersion: versionOf(tables),
      catalogs: this.catalogs(tables),
      searchPaths: SEARCH_PATHS,
      ...(this.options.sample.comments ? { comments: { sample: this.options.sample.comments } } : {}),
      allowedDirectories: [
        `${this.options.store.environmentDir(environmentId)}/`,
        `${this.options.sample.dir}/`,
        ...(this.options.resultsDir ? [`${this.options.resultsDir(environmentId)}/`] : []),
      ],
      tempDirectory: path.join(this.options.tempRoot, `${environmentId}-${process.pid}-${Date.now()}`),
    };
  }
}

/** Which table versions a worker's views must show. */
const versionOf = (tables: StoredTable[]) => tables.map((t) => `${t.name}@${t.version}`).join(',');
