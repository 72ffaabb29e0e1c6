import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { importTable } from '../src/lakehouse/duckdb/import.js';
import { TableStore } from '../src/lakehouse/duckdb/table-store.js';
import { openScratchDatabase } from './lib/scratch-database.js';
import { median } from './lib/stats.js';

// The import scenario (`npm run bench -- --scenario import`, or `node --import tsx bench/import.ts`): a CSV of
// the sample events' shape (event_id, event, user_id, session_id, occurred_at, properties as JSON text),
// imported end to end with importTable (spool, child process, Parquet, commit in PostgreSQL) against DuckDB in
// this process doing `COPY (SELECT * FROM read_csv(…)) TO '….parquet'` on the same file, rounds alternating,
// medians reported. Same threads, memory limit and compression (zstd) on both sides. Target: importTable
// within 2x of the in-process COPY.
//
//   [--rows N (default 200,000; the report's figure is 10,000,000)] [--rounds N (3)] [--threads N] [--database-url URL]

export interface ImportBenchOptions {
  rows: number;
  rounds: number;
  threads: number;
  databaseUrl?: string | undefined;
  say?: (line: string) => void;
}

export interface ImportBenchResult {
  rows: number;
  csvBytes: number;
  threads: number;
  rounds: { importTableMs: number; inProcessMs: number }[];
  importTableMs: number;
  inProcessMs: number;
  ratio: number;
  importTableRowsPerSecond: number;
  inProcessRowsPerSecond: number;
  target: string;
  pass: boolean;
}

const EVENTS = "['page_view','page_view','page_view','feature_used','search','signup','purchase','export']";

/** Writes `rows` events as CSV with a header (by DuckDB: quick, and quoted as any CSV writer would). */
async function writeEventsCsv(file: string, rows: number): Promise<void> {
  const db = await (await DuckDBInstance.create(':memory:')).connect();
  await db.run("SET TimeZone = 'UTC'");
  await db.run(`COPY (
      SELECT range AS event_id,
        ${EVENTS}[1 + (hash(range) % 8)::INTEGER] AS event,
        hash(range, 1) % 20000 AS user_id,
        CASE WHEN range % 10 = 0 THEN NULL ELSE range // 6 END AS session_id,
        TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_seconds(range // 100) AS occurred_at,
        CASE hash(range) % 3 WHEN 0 THEN '{"path":"/docs/' || (range % 50) || '"}'
          WHEN 1 THEN '{"feature":"chart","count":' || (range % 7) || '}' ELSE '{}' END AS properties
      FROM range(${rows})
    ) TO '${file}' (FORMAT csv, HEADER true)`);
  db.closeSync();
}

export async function benchImport(options: ImportBenchOptions): Promise<ImportBenchResult> {
  const say = options.say ?? (() => undefined);
  const { work, db, environmentId, close } = await openScratchDatabase('import', options.databaseUrl, say);
  try {
    const store = new TableStore(db, path.join(work, 'lakehouse'));

    const csv = path.join(work, 'events.csv');
    say(`writing ${options.rows.toLocaleString('en-US')} events as CSV`);
    await writeEventsCsv(csv, options.rows);
    const csvBytes = fs.statSync(csv).size;
    say(`${(csvBytes / 1024 / 1024).toFixed(0)} MiB of CSV`);

    const duck = await (await DuckDBInstance.create(':memory:', { threads: String(options.threads), memory_limit: '1024MB' })).connect();
    await duck.run("SET TimeZone = 'UTC'");
    const rounds: ImportBenchResult['rounds'] = [];
    for (let r = 0; r < options.rounds; r++) {
      let t = performance.now();
      const result = await importTable(store, environmentId, `events_${r}`, fs.createReadStream(csv, { highWaterMark: 1024 * 1024 }), {
        format: 'csv',
        maxBytes: Number.MAX_SAFE_INTEGER,
        tempDir: path.join(work, 'tmp'),
        threads: options.threads,
        memoryLimitMb: 1024,
      });
      const importTableMs = performance.now() - t;
      if (result.rows !== options.rows) throw new Error(`importTable answered ${result.rows} rows, not ${options.rows}`);
      t = performance.now();
      const out = path.join(work, `in-process-${r}.parquet`);
      await duck.run(`COPY (SELECT * FROM read_csv('${csv}')) TO '${out}' (FORMAT parquet, COMPRESSION zstd)`);
      const inProcessMs = performance.now() - t;
      fs.rmSync(out);
      rounds.push({ importTableMs: Math.round(importTableMs), inProcessMs: Math.round(inProcessMs) });
      say(`round ${r + 1}: importTable ${Math.round(importTableMs)} ms, in-process COPY ${Math.round(inProcessMs)} ms`);
    }
    duck.closeSync();
    const importTableMs = median(rounds.map((r) => r.importTableMs));
    const inProcessMs = median(rounds.map((r) => r.inProcessMs));
    const ratio = Math.round((importTableMs / inProcessMs) * 100) / 100;
    return {
      rows: options.rows,
      csvBytes,
      threads: options.threads,
      rounds,
      importTableMs,
      inProcessMs,
      ratio,
      importTableRowsPerSecond: Math.round((options.rows / importTableMs) * 1000),
      inProcessRowsPerSecond: Math.round((options.rows / inProcessMs) * 1000),
      target: '<= 2x',
      pass: ratio <= 2,
    };
  } finally {
    await close();
  }
}

export function formatImportBench(result: ImportBenchResult): string {
  const n = (v: number) => v.toLocaleString('en-US');
  return [
    `import scenario: ${n(result.rows)} rows, ${(result.csvBytes / 1024 / 1024).toFixed(0)} MiB of CSV, ${result.threads} threads, ${result.rounds.length} rounds (medians)`,
    `  importTable end to end      ${n(result.importTableMs)} ms   ${n(result.importTableRowsPerSecond)} rows/s`,
    `  in-process COPY read_csv    ${n(result.inProcessMs)} ms   ${n(result.inProcessRowsPerSecond)} rows/s`,
    `  ratio ${result.ratio}x (target ${result.target}): ${result.pass ? 'pass' : 'MISS'}`,
  ].join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '200000' },
      rounds: { type: 'string', default: '3' },
      threads: { type: 'string' },
      'database-url': { type: 'string' },
    },
  });
  const result = await benchImport({
    rows: Number(values.rows),
    rounds: Number(values.rounds),
    threads: Number(values.threads ?? Math.min(4, os.availableParallelism())),
    databaseUrl: values['database-url'],
    say: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${formatImportBench(result)}\n${JSON.stringify(result)}\n`);
}
