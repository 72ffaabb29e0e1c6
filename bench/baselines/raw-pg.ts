import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { summarize, type LoadResult } from '../lib/stats.js';

// The "raw pg" baseline: the same SQL through a plain `pg` pool on the same database, `connections` callers
// each running it back to back for `durationMs`. No sandbox, no HTTP: what the query itself costs from Node.

export interface RawPgJob {
  url: string;
  sql: string;
  connections: number;
  durationMs: number;
}

export async function runRawPg(job: RawPgJob): Promise<LoadResult> {
  const pool = new pg.Pool({ connectionString: job.url, max: job.connections });
  try {
    // Warm the pool: every connection open before timing.
    const clients = await Promise.all(Array.from({ length: job.connections }, () => pool.connect()));
    for (const client of clients) client.release();
    const latencies: number[] = [];
    let errors = 0;
    const started = performance.now();
    const until = started + job.durationMs;
    await Promise.all(
      Array.from({ length: job.connections }, async () => {
        while (performance.now() < until) {
          const t0 = performance.now();
          try {
            await pool.query({ text: job.sql, rowMode: 'array' });
            latencies.push(performance.now() - t0);
          } catch {
            errors += 1;
          }
        }
      }),
    );
    return summarize(latencies, errors, performance.now() - started);
  } finally {
    await pool.end();
  }
}
