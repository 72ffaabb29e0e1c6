import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../config.js';
import { findEnvironment } from '../../db/directory.js';
import { parseEnvironmentRef } from '../../db/names.js';
import type { ImportFormat } from '../../lakehouse/duckdb/import.js';
import { positional, UsageError, type Command } from '../command.js';

/** One import takes at most this much (a REST load 256 MiB): it still lands whole or not at all. */
const IMPORT_MAX_BYTES = 8 * 1024 ** 3;

const mib = (bytes: number) => (bytes / 1024 ** 2).toFixed(1);

/** A one-line progress bar on stderr (a terminal only; a pipe gets nothing, so --json stays one document). */
function progressBar(total: number): { update(bytes: number, rows: number): void; done(): void } {
  const tty = process.stderr.isTTY && total >= 1024 ** 2;
  const started = Date.now();
  let last = 0;
  const draw = (bytes: number, rows: number) => {
    const share = total > 0 ? Math.min(1, bytes / total) : 1;
    const width = 30;
    const filled = Math.round(share * width);
    const seconds = (Date.now() - started) / 1000;
    const rate = seconds > 0 ? Math.round(rows / seconds) : 0;
    process.stderr.write(
      `\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(share * 100).toFixed(0).padStart(3)}%  ${mib(bytes)}/${mib(total)} MiB  ${rows.toLocaleString('en-US')} rows  ${rate.toLocaleString('en-US')} rows/s `,
    );
  };
  return {
    update(bytes, rows) {
      if (!tty || Date.now() - last < 100) return;
      last = Date.now();
      draw(bytes, rows);
    },
    done() {
      if (tty) process.stderr.write('\r\x1b[2K');
    },
  };
}

export const lakehouseImport: Command = {
  words: ['lakehouse', 'import'],
  usage: '<org>/<env> <table> <file.csv|file.ndjson|file.parquet>',
  summary: "append a CSV, NDJSON or Parquet file to a table of the environment's lakehouse (created on first load; all rows or none)",
  positionals: ['org/env', 'table', 'file'],
  options: {},
  async run(context, args) {
    const ref = parseEnvironmentRef(positional(args, 0));
    const table = positional(args, 1);
    const file = path.resolve(positional(args, 2));
    const ext = path.extname(file).toLowerCase();
    const format: ImportFormat | undefined =
      ext === '.csv' ? 'csv' : ext === '.ndjson' || ext === '.jsonl' ? 'ndjson' : ext === '.parquet' ? 'parquet' : undefined;
    if (!format) throw new UsageError(`cannot tell the format of ${path.basename(file)}: name it .csv, .ndjson, .jsonl or .parquet`);
    const size = fs.statSync(file).size;
    const { db } = await context.database();
    const environment = await findEnvironment(db, ref);
    // Loaded when the command runs: every admin command would otherwise pay for this one's modules.
    const [{ importTable }, { TableStore }] = await Promise.all([
      import('../../lakehouse/duckdb/import.js'),
      import('../../lakehouse/duckdb/table-store.js'),
    ]);
    const store = new TableStore(db, path.join(loadConfig().dataDir, 'lakehouse'));
    const bar = progressBar(size);
    try {
      const result = await importTable(store, environment.id, table, fs.createReadStream(file, { highWaterMark: 1024 * 1024 }), {
        format,
        maxBytes: IMPORT_MAX_BYTES,
        onProgress: (bytes, rows) => bar.update(bytes, rows),
        tempDir: os.tmpdir(),
      });
      const rate = result.elapsed_ms > 0 ? Math.round((result.rows / result.elapsed_ms) * 1000) : result.rows;
      return {
        json: { load: { ...result, rows_per_second: rate } },
        text: `${result.created ? 'created' : 'appended to'} ${ref.organization}/${ref.environment} ${table}: ${result.rows.toLocaleString('en-US')} rows in ${(result.elapsed_ms / 1000).toFixed(1)} s (${rate.toLocaleString('en-US')} rows/s); columns ${result.columns.map((c) => `${c.name} ${c.type}`).join(', ')}`,
      };
    } finally {
      bar.done();
    }
  },
};
