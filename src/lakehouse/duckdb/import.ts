import { fork, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError, isErrorCode } from '../../errors.js';
import { LoadError, TABLE_NAME } from './load-input.js';
import type { FromImport, ImportFormat, ImportRequest } from './import-protocol.js';
import type { TableStore } from './table-store.js';
import { entryModule } from '../../package-paths.js';

export type { ImportFormat } from './import-protocol.js';

// Importing rows into an environment's DuckDB lakehouse (the Parquet tables of table-store.ts), from CSV,
// NDJSON or Parquet. The replacement of src/lakehouse/load.ts (PostgreSQL) with the same contract: all rows or
// none, malformed input refused with its line (1-based; the CSV header is line 1), a new table typed by its
// values, an existing one appended to with its own columns and types.
//
//  1. The body streams to a spool file (bytes counted, refused past maxBytes; nothing is parsed here).
//  2. A child process (import-main.ts: empty environment, oom_score_adj 1000, a hard bound on its resident
//     memory, killed on abort) converts the spool with DuckDB into the Parquet file TableStore.write hands out,
//     COPY … (FORMAT parquet, COMPRESSION zstd); the child is forked while the body is still arriving.
//  3. TableStore commits the file as a new version; on any error it removes the file's folder.
//
// Types of a new table: CSV columns get the types DuckDB's sniffer gives them from its sample (20,480 rows);
// a later value that does not fit widens its column (integers to DOUBLE, DATE to TIMESTAMP, else VARCHAR) and
// the file is read again, so one file never fails for the sample's sake. NDJSON is typed over the whole file
// (DuckDB's sample would drop keys it has not seen), objects, arrays and mixed values become JSON. Parquet
// keeps its types, nested ones as JSON.

export interface ImportOptions {
  format: ImportFormat;
  maxBytes: number;
  /** Called as the body arrives (bytes, lines so far) at most every 64 KiB or 100 ms, and once at the end with the rows. */
  onProgress?: (bytes: number, rows: number) => void;
  signal?: AbortSignal;
  /** folder for the spooled upload and DuckDB spill */
  tempDir: string;
  /** DuckDB's (soft) memory limit in the import process (default 1024). */
  memoryLimitMb?: number;
  /** The import process is killed when its resident memory passes this (default memoryLimitMb + 512). */
  hardMemoryMb?: number;
  /** At most this much spill under tempDir (default 16384). */
  maxTempMb?: number;
  /** DuckDB threads (default: the machine's cores, at most 4). */
  threads?: number;
}

export interface ImportResult {
  table: string;
  created: boolean;
  rows: number;
  columns: { name: string; type: string }[];
  elapsed_ms: number;
}

const IMPORT_MAIN = entryModule('lakehouse/duckdb/import-main');
const PAGE_BYTES = 4096;
const MEMORY_CHECK_MS = 50;
const PROGRESS_BYTES = 65_536;
const PROGRESS_MS = 100;
const EXTENSION: Record<ImportFormat, string> = { csv: 'csv', ndjson: 'ndjson', parquet: 'parquet' };

/** Imports `input` into `table` of the environment (created when it does not exist, appended to when it does); all rows or none. */
export async function importTable(
  store: TableStore,
  environmentId: string,
  table: string,
  input: Readable,
  options: ImportOptions,
): Promise<ImportResult> {
  const started = performance.now();
  if (!TABLE_NAME.test(table)) {
    throw new LoadError(`invalid table name "${table}": use lowercase letters, digits and _, starting with a letter or _ (at most 63)`);
  }
  options.signal?.throwIfAborted();
  const work = path.join(options.tempDir, `import-${crypto.randomUUID()}`);
  fs.mkdirSync(path.join(work, 'spill'), { recursive: true });
  const spool = path.join(work, `input.${EXTENSION[options.format]}`);
  const memoryLimitMb = options.memoryLimitMb ?? 1024;
  const child = ImportProcess.start(options.hardMemoryMb ?? memoryLimitMb + 512);
  const abort = () => child.kill('cancelled');
  options.signal?.addEventListener('abort', abort, { once: true });
  try {
    const { bytes } = await spoolInput(input, spool, options);
    const existing = (await store.tables(environmentId)).find((t) => t.name === table);
    // `append` creates the table when it is missing, and refuses rows that do not fit one made meanwhile.
    let rows = 0;
    const part = await store.write(environmentId, table, 'append', async (file) => {
      options.signal?.throwIfAborted();
      const request: ImportRequest = {
        type: 'import',
        format: options.format,
        input: spool,
        output: file,
        table,
        ...(existing ? { existing: existing.columns } : {}),
        tempDirectory: path.join(work, 'spill'),
        maxTempDirectorySize: `${options.maxTempMb ?? 16_384}MB`,
        memoryLimit: `${memoryLimitMb}MB`,
        threads: options.threads ?? Math.min(4, os.availableParallelism()),
      };
      const written = await child.run(request);
      rows = written.rows;
      return written;
    });
    options.onProgress?.(bytes, rows);
    return { table, created: !existing, rows, columns: part.columns, elapsed_ms: Math.round(performance.now() - started) };
  } catch (error) {
    if (options.signal?.aborted) throw new AppError('cancelled', 'The import was cancelled; nothing was imported.');
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', abort);
    child.kill('done');
    await Promise.race([child.done, new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Writes the body to `file`, counting bytes (refused past maxBytes) and line breaks for the progress. */
async function spoolInput(input: Readable, file: string, options: ImportOptions): Promise<{ bytes: number }> {
  let bytes = 0;
  let lines = 0;
  let reportedBytes = 0;
  let reportedAt = performance.now();
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      bytes += chunk.length;
      if (bytes > options.maxBytes) {
        callback(
          new LoadError(
            `the body is larger than the limit of ${options.maxBytes} bytes; split it into several loads`,
            undefined,
            'payload_too_large',
          ),
        );
        return;
      }
      if (options.onProgress && options.format !== 'parquet') {
        for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
      }
      const now = performance.now();
      if (options.onProgress && (bytes - reportedBytes >= PROGRESS_BYTES || now - reportedAt >= PROGRESS_MS)) {
        reportedBytes = bytes;
        reportedAt = now;
        // Lines past the CSV header are about the rows so far.
        options.onProgress(bytes, options.format === 'csv' ? Math.max(0, lines - 1) : lines);
      }
      callback(null, chunk);
    },
  });
  const output = fs.createWriteStream(file, { highWaterMark: 1024 * 1024 });
  try {
    await pipeline(input, counter, output, options.signal ? { signal: options.signal } : {});
  } catch (error) {
    // An abort rejects at once, while the file may still be opening: closed first, so that the clean-up that
    // follows cannot race its creation (and leave the spool, or fail to remove the folder).
    if (!output.closed) await new Promise<void>((resolve) => output.once('close', () => resolve()));
    throw error;
  }
  return { bytes };
}

/** One import process: started at once (its start overlaps the upload), one request, then it exits. */
class ImportProcess {
  private exitReason: string | undefined;
  private readonly exited: Promise<void>;
  private readonly watchdog: NodeJS.Timeout;
  private stderr = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly hardMemoryMb: number,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    this.watchdog = setInterval(() => this.checkMemory(), MEMORY_CHECK_MS).unref();
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.stderr = (this.stderr + chunk).slice(-4_000)));
    child.once('exit', () => clearInterval(this.watchdog));
  }

  static start(hardMemoryMb: number): ImportProcess {
    const child = fork(IMPORT_MAIN, [], {
      // No DATABASE_URL, no SECRET_KEY, nothing else of the server's environment.
      env: {},
      execArgv: process.execArgv.filter((arg) => !arg.startsWith('--inspect')),
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
    });
    child.on('error', () => undefined);
    try {
      // Raising one's own child's score needs no privilege; the server keeps its own.
      if (child.pid) fs.writeFileSync(`/proc/${child.pid}/oom_score_adj`, '1000');
    } catch {
      // Not Linux, or /proc is read-only: the hard bound still holds.
    }
    return new ImportProcess(child, hardMemoryMb);
  }

  run(request: ImportRequest): Promise<{ rows: number; columns: { name: string; type: string }[] }> {
    return new Promise((resolve, reject) => {
      if (this.exitReason !== undefined || this.child.exitCode !== null) {
        reject(this.deathError());
        return;
      }
      const onExit = () => reject(this.deathError());
      this.child.once('exit', onExit);
      this.child.on('message', (message: FromImport) => {
        if (message.type === 'done') {
          this.child.off('exit', onExit);
          resolve({ rows: message.rows, columns: message.columns });
        } else if (message.type === 'error') {
          this.child.off('exit', onExit);
          const code = isErrorCode(message.code) ? message.code : 'invalid_load';
          reject(new LoadError(message.message, message.line, code));
        }
      });
      this.child.send(request);
    });
  }

  kill(reason: string): void {
    this.exitReason ??= reason;
    clearInterval(this.watchdog);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  private checkMemory(): void {
    if (this.exitReason !== undefined || !this.child.pid) return;
    try {
      const residentPages = Number(fs.readFileSync(`/proc/${this.child.pid}/statm`, 'utf8').split(' ')[1]);
      if (residentPages * PAGE_BYTES > this.hardMemoryMb * 1024 * 1024) this.kill('memory');
    } catch {
      // The process is gone; 'exit' says so.
    }
  }

  private deathError(): AppError {
    if (this.exitReason === 'memory') {
      return new AppError(
        'out_of_memory',
        `The import needed more than the ${this.hardMemoryMb} MiB it may use, and was stopped. Split the file into several imports.`,
      );
    }
    if (this.exitReason === 'cancelled') return new AppError('cancelled', 'The import was cancelled; nothing was imported.');
    return new AppError('unavailable', `The import process stopped unexpectedly; retry the import. ${this.stderr.slice(-500)}`.trim());
  }

  /** Resolves when the process has exited. */
  get done(): Promise<void> {
    return this.exited;
  }
}
