import { AppError } from '../../errors.js';
import type { DuckRows } from './worker-protocol.js';
import { DuckWorker, type DuckQueryOptions, type DuckWorkerOptions } from './worker.js';

// The DuckDB workers of one serving process: one per active environment (it sees only that environment's
// data), at most `maxWorkers` at once, idle ones stopped after `idleMs`, a dead one replaced on the next call.
// A call waits up to `queueMs` for its environment's worker (an agent's parallel tool calls queue rather
// than fail) and for a free slot, then answers busy / unavailable.

export interface DuckPoolOptions {
  maxWorkers: number;
  idleMs: number;
  /** How long a call may wait for its turn before `busy`. */
  queueMs: number;
  /** At most this many calls wait per environment; more answer `busy` at once. */
  maxQueuedPerEnvironment: number;
  /** What an environment's worker may see and use. */
  workerOptions(environmentId: string): DuckWorkerOptions | Promise<DuckWorkerOptions>;
}

interface Entry {
  worker: Promise<DuckWorker>;
  /** Calls running or waiting on this worker. */
  active: number;
  lastUsed: number;
  /** The tail of this environment's queue: a call runs when the one before it is done. */
  tail: Promise<unknown>;
}

export class DuckWorkerPool {
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: DuckPoolOptions) {
    this.sweeper = setInterval(() => void this.evictIdle(), Math.min(options.idleMs, 10_000)).unref();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Runs one statement in the environment's worker, in arrival order behind its other calls. */
  run(environmentId: string, sql: string, options: DuckQueryOptions): Promise<DuckRows> {
    return this.use(environmentId, (worker) => worker.query(sql, options));
  }

  /** Gives `work` the environment's worker when its turn comes (in arrival order behind its other calls). */
  async use<T>(environmentId: string, work: (worker: DuckWorker) => Promise<T>): Promise<T> {
    if (this.closed) throw new AppError('unavailable', 'The query engine is shutting down; retry on another process.');
    const entry = await this.entryFor(environmentId);
    if (entry.active >= this.options.maxQueuedPerEnvironment) {
      throw busy(entry.active);
    }
    entry.active++;
    entry.lastUsed = Date.now();
    const previous = entry.tail;
    const turn = (async () => {
      const waited = await waitAtMost(previous, this.options.queueMs);
      if (!waited) throw busy(entry.active);
      return work(await entry.worker);
    })();
    entry.tail = turn.catch(() => undefined);
    try {
      return await turn;
    } finally {
      entry.active--;
      entry.lastUsed = Date.now();
      const worker = await entry.worker.catch(() => undefined);
      // A worker that died (out of memory, killed) is forgotten: the next call starts a fresh one.
      if (worker && !worker.alive && this.entries.get(environmentId) === entry) this.entries.delete(environmentId);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    const workers = [...this.entries.values()].map((e) => e.worker);
    this.entries.clear();
    await Promise.all(workers.map(async (w) => (await w.catch(() => undefined))?.close()));
  }

  private async entryFor(environmentId: string): Promise<Entry> {
    const existing = this.entries.get(environmentId);
    if (existing) return existing;
    await this.makeRoom();
    const raced = this.entries.get(environmentId);
    if (raced) return raced;
    const worker = Promise.resolve(this.options.workerOptions(environmentId)).then((options) => DuckWorker.start(options));
    const entry: Entry = { worker, active: 0, lastUsed: Date.now(), tail: Promise.resolve() };
    this.entries.set(environmentId, entry);
    worker.catch(() => {
      if (this.entries.get(environmentId) === entry) this.entries.delete(environmentId);
    });
    return entry;
  }

  /** At the cap, stops the least recently used idle worker; waits up to queueMs for one to become idle. */
  private async makeRoom(): Promise<void> {
    const deadline = Date.now() + this.options.queueMs;
    while (this.entries.size >= this.options.maxWorkers) {
      const idle = [...this.entries.entries()].filter(([, e]) => e.active === 0).sort(([, a], [, b]) => a.lastUsed - b.lastUsed)[0];
      if (idle) {
        this.entries.delete(idle[0]);
        await (await idle[1].worker.catch(() => undefined))?.close();
        return;
      }
      if (Date.now() >= deadline) {
        throw new AppError(
          'unavailable',
          `The server runs its maximum of ${this.options.maxWorkers} query workers, all busy; retry in a moment.`,
          { headers: { 'Retry-After': '1' } },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  private async evictIdle(): Promise<void> {
    const now = Date.now();
    for (const [environmentId, entry] of [...this.entries]) {
      if (entry.active === 0 && now - entry.lastUsed >= this.options.idleMs) {
        this.entries.delete(environmentId);
        await (await entry.worker.catch(() => undefined))?.close();
      }
    }
  }
}

const busy = (waiting: number) =>
  new AppError('busy', `This environment already has ${waiting} statements running or waiting; retry in a moment.`, {
    headers: { 'Retry-After': '1' },
  });

/** Whether `promise` settled within `ms`. */
async function waitAtMost(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const settled = promise.then(
    () => true as const,
    () => true as const,
  );
  const result = await Promise.race([settled, timeout]);
  clearTimeout(timer);
  return result;
}
