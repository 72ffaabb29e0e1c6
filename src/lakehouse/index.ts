import os from 'node:os';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import type { Database } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { DuckEngine } from './duckdb/engine.js';
import { TableStore } from './duckdb/table-store.js';
import { Lakehouse } from './lakehouse.js';
import { ensureSample, SAMPLE_COMMENTS } from './sample.js';
import { ResultStore } from './results/store.js';
import { PostgresSandbox } from './sandbox.js';

export { Lakehouse } from './lakehouse.js';

export type LakehouseConfig = Pick<
  Config,
  | 'dataDir'
  | 'sampleDir'
  | 'sampleEvents'
  | 'sqlConcurrency'
  | 'queryWorkers'
  | 'queryWorkerMemoryMb'
  | 'queryWorkerThreads'
  | 'queryQueueMs'
  | 'exportMaxBytes'
  | 'resultTtlMs'
  | 'resultQuotaBytes'
  | 'exportConcurrencyPerEnv'
>;

export interface StartLakehouseOptions {
  config: LakehouseConfig;
  db: Kysely<Database>;
  secret: Buffer;
  log: Logger;
  /** Where sample generation progress goes (default: stderr, one line per step). */
  progress?: (line: string) => void;
}

/**
 * At server start: the sample (generated on the first start, with its progress on the terminal), the table
 * store, the DuckDB workers' pool and the PostgreSQL sandbox of external connections (Services.lakehouse).
 * Close the answer on shutdown.
 */
export async function startLakehouse(options: StartLakehouseOptions): Promise<Lakehouse> {
  const { config, log } = options;
  const sample = await ensureSample({
    root: config.sampleDir,
    events: config.sampleEvents,
    progress: options.progress ?? ((line: string) => process.stderr.write(`${line}\n`)),
  });
  if (sample.generated) log.info({ durationMs: sample.manifest.duration_ms, rows: sample.manifest.row_counts }, 'sample data generated');
  const store = new TableStore(options.db, path.join(config.dataDir, 'lakehouse'));
  const results = new ResultStore(options.db, path.join(config.dataDir, 'results'), {
    maxBytes: config.exportMaxBytes,
    ttlMs: config.resultTtlMs,
    quotaBytes: config.resultQuotaBytes,
    concurrencyPerEnv: config.exportConcurrencyPerEnv,
  });
  const engine = new DuckEngine({
    store,
    sample: { dir: sample.dir, files: sample.files, comments: SAMPLE_COMMENTS },
    tempRoot: path.join(os.tmpdir(), 'lakehouse-mcp-spill'),
    pool: { maxWorkers: config.queryWorkers, idleMs: 5 * 60_000, queueMs: config.queryQueueMs, maxQueuedPerEnvironment: 32 },
    worker: {
      threads: config.queryWorkerThreads,
      memoryLimitMb: config.queryWorkerMemoryMb,
      hardMemoryMb: Math.round(config.queryWorkerMemoryMb * 1.5) + 256,
      maxTempMb: 4096,
    },
    resultsDir: (environmentId) => results.directoryOf(environmentId),
  });
  const postgres = await new PostgresSandbox(options.db, { secretKey: options.secret, sqlConcurrency: config.sqlConcurrency, log }).init();
  return new Lakehouse(engine, store, postgres, sample, results);
}
