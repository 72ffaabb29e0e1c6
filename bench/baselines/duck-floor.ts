import { performance } from 'node:perf_hooks';
import { DuckDBInstance, type Json } from '@duckdb/node-api';
import { summarize, type LoadResult } from '../lib/stats.js';

// The in-process DuckDB floor: @duckdb/node-api in the calling process over the sample's Parquet files, set
// up as a query worker sets up its session (src/lakehouse/duckdb/worker-main.ts): a view per table over
// read_parquet(<file>), TimeZone UTC, the same threads and memory limit as QUERY_WORKER_THREADS and
// QUERY_WORKER_MEMORY_MB. No server, no HTTP, no IPC, no guard: what the SQL itself costs on this engine.

export interface DuckFloorOptions {
  /** Table name → Parquet file (Sample.files). */
  files: Record<string, string>;
  threads: number;
  memoryLimitMb: number;
}

export interface DuckFloor {
  /** Runs one statement and reads every row as JSON (DuckDB's JSON conversion, as the worker's). */
  query(sql: string): Promise<{ columns: string[]; rows: Json[][] }>;
  close(): void;
}

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** The worker's settings, from the same variables (and defaults) as src/config.ts. */
export function workerSettings(env: NodeJS.ProcessEnv = process.env): { threads: number; memoryLimitMb: number } {
  const int = (value: string | undefined, fallback: number) => (value && /^\d+$/.test(value) ? Number(value) : fallback);
  return { threads: int(env.QUERY_WORKER_THREADS, 2), memoryLimitMb: int(env.QUERY_WORKER_MEMORY_MB, 1024) };
}

export async function openDuckFloor(options: DuckFloorOptions): Promise<DuckFloor> {
  const instance = await DuckDBInstance.create(':memory:', {
    threads: String(options.threads),
    memory_limit: `${options.memoryLimitMb}MB`,
  });
  const setup = await instance.connect();
  for (const [table, file] of Object.entries(options.files)) {
    await setup.run(`CREATE VIEW "${table}" AS SELECT * FROM read_parquet(${literal(file)})`);
  }
  const main = await instance.connect();
  await main.run("SET TimeZone = 'UTC'");
  return {
    async query(sql) {
      const reader = await main.runAndReadAll(sql);
      return { columns: reader.columnNames(), rows: reader.getRowsJson() };
    },
    close() {
      main.closeSync();
      setup.closeSync();
      instance.closeSync();
    },
  };
}

export interface DuckFloorJob {
  sql: string;
  connections: number;
  durationMs: number;
}

/**
 * `connections` callers running `sql` back to back for `durationMs`, statements one at a time as a query
 * worker runs them (a worker answers its environment's calls in arrival order), each read to JSON.
 */
export async function runDuckFloor(floor: DuckFloor, job: DuckFloorJob): Promise<LoadResult> {
  let tail: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = tail.then(work, work);
    tail = next.catch(() => undefined);
    return next;
  };
  await floor.query(job.sql);
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const until = started + job.durationMs;
  await Promise.all(
    Array.from({ length: job.connections }, async () => {
      while (performance.now() < until) {
        const t0 = performance.now();
        try {
          await serial(() => floor.query(job.sql));
          latencies.push(performance.now() - t0);
        } catch {
          errors += 1;
        }
      }
    }),
  );
  return summarize(latencies, errors, performance.now() - started);
}
