import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { DuckDBInstance } from '@duckdb/node-api';
import { loadConfig } from '../src/config.js';
import { startLakehouse } from '../src/lakehouse/index.js';
import { createLogger } from '../src/logger.js';
import type { ToolContext } from '../src/operations/context.js';
import { toolHandlers } from '../src/operations/index.js';
import { openScratchDatabase } from './lib/scratch-database.js';
import { median } from './lib/stats.js';

// The export scenario (`npm run bench -- --scenario export`): query_lakehouse's handler with `export: "csv"`
// and `export: "parquet"` on `SELECT * FROM sample.main.events LIMIT 1000000` (the answer's first rows, the
// result store's checks, the COPY in the environment's locked worker process, the row in PostgreSQL), against
// the floor: DuckDB in this process doing the same COPY of the same files, with the same threads and
// compression. Rounds alternate; medians reported. The handler runs in-process (no HTTP): what is measured is
// the export itself, not the transport of a small answer.
//
//   [--rows N (default 1,000,000)] [--rounds N (3)] [--sample-dir DIR] [--database-url URL]

export interface ExportBenchOptions {
  rows: number;
  rounds: number;
  threads: number;
  sampleDir?: string | undefined;
  databaseUrl?: string | undefined;
  say?: (line: string) => void;
}

interface FormatResult {
  format: 'csv' | 'parquet';
  bytes: number;
  rounds: { toolMs: number; inProcessMs: number }[];
  toolMs: number;
  inProcessMs: number;
  ratio: number;
  answerBytes: number;
}

export interface ExportBenchResult {
  rows: number;
  threads: number;
  formats: FormatResult[];
}

export async function benchExport(options: ExportBenchOptions): Promise<ExportBenchResult> {
  const say = options.say ?? (() => undefined);
  const { work, db, environmentId, close } = await openScratchDatabase('export', options.databaseUrl, say);
  try {
    const config = loadConfig({
      DATA_DIR: path.join(work, 'data'),
      SAMPLE_DIR: options.sampleDir ?? path.join(work, 'sample'),
      SAMPLE_EVENTS: '1130000',
      QUERY_WORKER_THREADS: String(options.threads),
      RESULT_QUOTA_BYTES: String(64 * 1024 ** 3),
    });
    const lakehouse = await startLakehouse({ config, db, secret: Buffer.alloc(32, 3), log: createLogger('silent'), progress: say });
    try {
      const sql = `SELECT * FROM sample.main.events LIMIT ${options.rows}`;
      const files = lakehouse.sample.files.events;
      if (!files) throw new Error('the sample has no events');
      const duck = await (
        await DuckDBInstance.create(':memory:', { threads: String(options.threads), memory_limit: `${config.queryWorkerMemoryMb}MB` })
      ).connect();
      await duck.run("SET TimeZone = 'UTC'");
      const formats: FormatResult[] = [];
      for (const format of ['csv', 'parquet'] as const) {
        const rounds: FormatResult['rounds'] = [];
        let bytes = 0;
        let answerBytes = 0;
        for (let r = 0; r < options.rounds; r++) {
          const ctx = {
            config,
            db,
            lakehouse,
            principal: { environmentId },
            signal: new AbortController().signal,
            audited: {},
            content: [],
          } as unknown as ToolContext;
          let t = performance.now();
          const answer = await toolHandlers.query_lakehouse(
            { sql, connection: 'sample', limit: 100, offset: 0, timeout_ms: 60_000, export: format },
            ctx,
          );
          const toolMs = performance.now() - t;
          if (answer.export?.rows !== options.rows) throw new Error(`the export has ${answer.export?.rows} rows, not ${options.rows}`);
          bytes = answer.export.bytes;
          answerBytes = Buffer.byteLength(JSON.stringify(answer)) + Buffer.byteLength(JSON.stringify(ctx.content));
          await lakehouse.results.remove(environmentId, answer.export.id);
          const out = path.join(work, `in-process.${format}`);
          const copyOptions = format === 'csv' ? 'FORMAT csv, HEADER true' : 'FORMAT parquet, COMPRESSION zstd';
          t = performance.now();
          await duck.run(`COPY (SELECT * FROM read_parquet('${files}') LIMIT ${options.rows}) TO '${out}' (${copyOptions})`);
          const inProcessMs = performance.now() - t;
          fs.rmSync(out);
          rounds.push({ toolMs: Math.round(toolMs), inProcessMs: Math.round(inProcessMs) });
          say(`${format} round ${r + 1}: query_lakehouse export ${Math.round(toolMs)} ms, in-process COPY ${Math.round(inProcessMs)} ms`);
        }
        const toolMs = median(rounds.map((r) => r.toolMs));
        const inProcessMs = median(rounds.map((r) => r.inProcessMs));
        formats.push({ format, bytes, rounds, toolMs, inProcessMs, ratio: Math.round((toolMs / inProcessMs) * 100) / 100, answerBytes });
      }
      duck.closeSync();
      return { rows: options.rows, threads: options.threads, formats };
    } finally {
      await lakehouse.close();
    }
  } finally {
    await close();
  }
}

export function formatExportBench(result: ExportBenchResult): string {
  const n = (v: number) => v.toLocaleString('en-US');
  return [
    `export scenario: ${n(result.rows)} rows of sample.main.events, ${result.threads} threads (medians)`,
    ...result.formats.map(
      (f) =>
        `  ${f.format.padEnd(8)} file ${(f.bytes / 1024 / 1024).toFixed(1)} MiB, answer ${n(f.answerBytes)} bytes; ` +
        `query_lakehouse export ${n(f.toolMs)} ms, in-process COPY ${n(f.inProcessMs)} ms, ratio ${f.ratio}x`,
    ),
  ].join('\n');
}
