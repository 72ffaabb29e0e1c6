import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { AppError, isErrorCode, type ErrorCode } from '../../errors.js';
import type { Catalogs, DuckRows, FromWorker, OpenMessage, QueryMessage, QueryMode, ToWorker } from './worker-protocol.js';
import { entryModule } from '../../package-paths.js';

// The serving process's side of a DuckDB worker (worker-main.ts): it starts the process with an empty
// environment, makes the kernel's out-of-memory killer prefer it to the server, holds it to a hard memory
// bound (DuckDB's memory_limit is soft: the process is killed past `hardMemoryMb`), and turns the worker's
// death into a clear error for the call it was running.

const WORKER_MAIN = entryModule('lakehouse/duckdb/worker-main');
const PAGE_BYTES = 4096;
/** How often the resident memory of a worker is read (from /proc) against its hard bound. */
const MEMORY_CHECK_MS = 50;
/** After its timeout a statement has this long to stop on its own before its worker is killed. */
const TIMEOUT_GRACE_MS = 2_000;

export interface DuckWorkerOptions extends Omit<OpenMessage, 'type' | 'memoryLimit' | 'maxTempDirectorySize'> {
  /** DuckDB's own limit; the hard bound is `hardMemoryMb`. */
  memoryLimitMb: number;
  /** The process is killed when its resident memory passes this. */
  hardMemoryMb: number;
  maxTempMb: number;
  /** Which table versions the catalogs of the open message show (see `catalogVersion`). */
  catalogVersion?: string;
}

export interface DuckQueryOptions {
  /** What to do with the statement (default `rows`: run it). */
  mode?: QueryMode;
  /** The session whose catalog's names resolve first (a key of `searchPaths`; default `lakehouse`). */
  session?: string;
  values?: QueryMessage['values'];
  offset?: number;
  limit: number;
  maxBytes: number;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Refuse the statement when its estimated scan passes this (QueryMessage.scanBudget). */
  scanBudget?: QueryMessage['scanBudget'];
  /** `export` mode: where the result goes. */
  export?: QueryMessage['export'];
  /** `export` mode: told the rows read so far, as the statement runs (a query job's progress). */
  onProgress?: (rowsRead: number) => void;
}

/** A statement's failure in the worker, with where DuckDB points in it. */
export class DuckError extends AppError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly position?: number,
    readonly hint?: string,
  ) {
    super(code, message);
  }
}

interface Pending {
  resolve(rows: DuckRows | undefined): void;
  reject(error: AppError): void;
  progress?: ((rowsRead: number) => void) | undefined;
}

export class DuckWorker {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private exitReason: string | undefined;
  private readonly watchdog: NodeJS.Timeout;

  private constructor(
    private readonly child: ChildProcess,
    private readonly options: DuckWorkerOptions,
  ) {
    this.watchdog = setInterval(() => this.checkMemory(), MEMORY_CHECK_MS).unref();
    child.on('message', (message: FromWorker) => this.receive(message));
    child.once('exit', (code, signal) => this.exited(code, signal));
  }

  /** Starts a worker and opens its DuckDB; rejects when it cannot. */
  static async start(options: DuckWorkerOptions): Promise<DuckWorker> {
    fs.mkdirSync(options.tempDirectory, { recursive: true });
    const child = fork(WORKER_MAIN, [], {
      // No DATABASE_URL, no SECRET_KEY, nothing else of the server's environment.
      env: {},
      execArgv: process.execArgv.filter((arg) => !arg.startsWith('--inspect')),
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4_000)));
    try {
      // Raising one's own child's score needs no privilege; the server keeps its own.
      if (child.pid) fs.writeFileSync(`/proc/${child.pid}/oom_score_adj`, '1000');
    } catch {
      // Not Linux, or /proc is read-only: the hard bound below still holds.
    }
    const worker = new DuckWorker(child, options);
    worker.catalogVersion = options.catalogVersion ?? '';
    const open: ToWorker = {
      type: 'open',
      catalogs: options.catalogs,
      searchPaths: options.searchPaths,
      ...(options.comments ? { comments: options.comments } : {}),
      allowedDirectories: options.allowedDirectories,
      tempDirectory: options.tempDirectory,
      maxTempDirectorySize: `${options.maxTempMb}MB`,
      memoryLimit: `${options.memoryLimitMb}MB`,
      threads: options.threads,
    };
    await new Promise<void>((resolve, reject) => {
      const onMessage = (message: FromWorker) => {
        if (message.type === 'ready') resolve();
        if (message.type === 'failed') reject(new Error(`the DuckDB worker did not open: ${message.message}`));
      };
      child.on('message', onMessage);
      child.once('exit', (code) => reject(new Error(`the DuckDB worker exited (${String(code)}) while opening: ${stderr}`)));
      child.send(open);
    }).catch(async (error: unknown) => {
      await worker.close();
      throw error;
    });
    return worker;
  }

  /** Which table versions the worker's views show (set by whoever defines them). */
  catalogVersion = '';

  /** Points the catalogs' views at new file sets (a table got a new version, or a new table). */
  async define(catalogs: Catalogs, version: string): Promise<void> {
    await this.request((id) => ({ type: 'define', id, catalogs }), 30_000);
    this.catalogVersion = version;
  }

  get alive(): boolean {
    return this.exitReason === undefined;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Runs one checked statement; rows and bytes are capped in the worker, so a huge value never comes here whole. */
  async query(sql: string, options: DuckQueryOptions): Promise<DuckRows> {
    const rows = await this.request(
      (id) => ({
        type: 'query',
        id,
        sql,
        mode: options.mode ?? 'rows',
        session: options.session ?? 'lakehouse',
        values: options.values ?? [],
        offset: options.offset ?? 0,
        limit: options.limit,
        maxBytes: options.maxBytes,
        timeoutMs: options.timeoutMs,
        ...(options.scanBudget ? { scanBudget: options.scanBudget } : {}),
        ...(options.export ? { export: options.export } : {}),
      }),
      options.timeoutMs,
      options.signal,
      options.onProgress,
    );
    if (!rows) throw new AppError('internal_error', 'the worker answered a query without rows');
    return rows;
  }

  /** Sends one request and waits for its answer; past `timeoutMs` (and a grace) the worker is killed. */
  private request(
    message: (id: number) => ToWorker,
    timeoutMs: number,
    signal?: AbortSignal,
    progress?: (rowsRead: number) => void,
  ): Promise<DuckRows | undefined> {
    if (!this.alive) return Promise.reject(this.deathError());
    // Cancelled while it waited for its turn (or for the worker to start): it never runs.
    if (signal?.aborted) return Promise.reject(new AppError('cancelled', 'The call was cancelled.'));
    const id = this.nextId++;
    return new Promise<DuckRows | undefined>((resolve, reject) => {
      const backstop = setTimeout(() => this.kill('timeout'), timeoutMs + TIMEOUT_GRACE_MS);
      const abort = () => this.child.send({ type: 'cancel', id } satisfies ToWorker);
      signal?.addEventListener('abort', abort, { once: true });
      const done = () => {
        clearTimeout(backstop);
        signal?.removeEventListener('abort', abort);
        this.pending.delete(id);
      };
      this.pending.set(id, {
        progress,
        resolve: (rows) => {
          done();
          resolve(rows);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      });
      this.child.send(message(id));
    });
  }

  async close(): Promise<void> {
    clearInterval(this.watchdog);
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGKILL');
    await exited;
  }

  private receive(message: FromWorker): void {
    if (message.type === 'progress') return void this.pending.get(message.id)?.progress?.(message.rowsRead);
    if (message.type !== 'result' && message.type !== 'error' && message.type !== 'defined') return;
    const pending = this.pending.get(message.id);
    if (!pending) return;
    if (message.type === 'defined') {
      pending.resolve(undefined);
    } else if (message.type === 'result') {
      const { type: _type, id: _id, ...rows } = message;
      pending.resolve(rows);
    } else {
      pending.reject(
        new DuckError(isErrorCode(message.code) ? message.code : 'sql_error', message.message, message.position, message.hint),
      );
    }
  }

  private checkMemory(): void {
    if (!this.alive || !this.child.pid) return;
    try {
      const residentPages = Number(fs.readFileSync(`/proc/${this.child.pid}/statm`, 'utf8').split(' ')[1]);
      if (residentPages * PAGE_BYTES > this.options.hardMemoryMb * 1024 * 1024) this.kill('memory');
    } catch {
      // The process is gone; 'exit' says so.
    }
  }

  private kill(reason: string): void {
    this.exitReason ??= reason;
    this.child.kill('SIGKILL');
  }

  private deathError(): AppError {
    if (this.exitReason === 'memory') {
      return new AppError(
        'out_of_memory',
        `The statement needed more than the ${this.options.hardMemoryMb} MiB a query may use, and was stopped. Narrow it: a time range, fewer columns, an aggregate, or LIMIT.`,
      );
    }
    if (this.exitReason === 'timeout') {
      return new AppError('query_timeout', 'The statement did not stop at its timeout and was killed. Narrow it (a time range, LIMIT).');
    }
    return new AppError('unavailable', 'The query engine stopped while running the statement; retry it.');
  }

  private exited(code: number | null, signal: NodeJS.Signals | null): void {
    clearInterval(this.watchdog);
    this.exitReason ??= signal === 'SIGKILL' ? 'killed' : `exit ${String(code)}`;
    const error = this.deathError();
    for (const pending of [...this.pending.values()]) pending.reject(error);
  }
}
