import pg from 'pg';
import type { Logger } from '../logger.js';

// graphile-worker locks a job to the id of the worker running it and frees the job of a vanished worker only
// after four hours, so a run killed with its process (SIGKILL, OOM, power) would wait that long for its retry.
// Each process therefore holds a session advisory lock per worker id on a connection of its own: PostgreSQL
// drops those locks the moment the process's connection dies, so any process can tell a dead worker from a
// live one, and frees a dead worker's jobs at its next planning tick (graphile_worker.force_unlock_workers).
// The run is then retried under its job key; task_runs(task_id, slot) keeps it to one committed result even if
// a worker whose lock connection broke (while its process lives on) was still running it.

/** The first key of the two-key advisory locks: this product's task workers (the second is hashtext(worker id)). */
export const LOCK_SPACE = 0x7a5c;

/**
 * A worker takes its first job as it is created, a moment before its process has taken the worker's lock: a job
 * locked more recently than this is never taken for a dead worker's (the retry of a killed run waits this long).
 */
export const NEW_LOCK_GRACE_SECONDS = 10;

/** The connection holding the locks, released once whichever of an error and close() comes first. */
interface Holder {
  client: pg.PoolClient;
  release(): void;
}

/** Whether a failed statement means its connection is gone (PostgreSQL's 08 and 57P0 codes, or the socket's). */
const connectionLost = (error: unknown) => !(error instanceof pg.DatabaseError) || /^(08|57P0)/.test(error.code ?? '');

export class WorkerLiveness {
  private readonly ours = new Set<string>();
  private holder: Promise<Holder> | undefined;
  private closed = false;
  /** The lock statements in order: one connection runs one query at a time. */
  private locking: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly pool: pg.Pool,
    private readonly log: Logger,
  ) {}

  /** Marks a worker of this process alive (call it from the runner's `worker:create` event). */
  async claim(workerId: string): Promise<void> {
    this.ours.add(workerId);
    const holder = this.connection();
    const held = await holder;
    try {
      await this.lock(held.client, [workerId]);
    } catch (error) {
      if (!connectionLost(error)) throw error;
      // PostgreSQL dropped the connection as the lock was sent, before its 'error' event came: drop it now; the
      // next connection locks every worker, this one included (a second failure is the caller's to hear).
      if (this.holder === holder) this.holder = undefined;
      held.release();
      await this.connection();
    }
  }

  /** Frees the jobs of workers whose process is gone; answers their ids. */
  async sweep(): Promise<string[]> {
    await this.connection(); // reconnects (and locks again) after a lost connection
    const client = await this.pool.connect();
    try {
      const { rows } = await client.query<{ worker: string }>(
        `SELECT DISTINCT locked_by AS worker FROM graphile_worker.jobs
         WHERE locked_by IS NOT NULL AND NOT (locked_by = ANY($1::text[])) AND locked_at < now() - make_interval(secs => $2)`,
        [[...this.ours], NEW_LOCK_GRACE_SECONDS],
      );
      const dead: string[] = [];
      for (const { worker } of rows) {
        const { rows: tried } = await client.query<{ free: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS free', [
          LOCK_SPACE,
          worker,
        ]);
        if (!tried[0]?.free) continue;
        await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_SPACE, worker]);
        dead.push(worker);
      }
      if (dead.length > 0) {
        await client.query('SELECT graphile_worker.force_unlock_workers($1::text[])', [dead]);
        this.log.warn({ workers: dead }, 'task queue: freed the jobs of workers whose process is gone; they are retried');
      }
      return dead;
    } finally {
      client.release();
    }
  }

  /** Releases this process's locks (its workers have stopped). */
  async close(): Promise<void> {
    this.closed = true;
    const holder = this.holder;
    this.holder = undefined;
    if (holder) (await holder.catch(() => undefined))?.release();
  }

  /** The connection holding this process's locks; a new one (locking every worker again) once it broke. */
  private connection(): Promise<Holder> {
    if (this.closed) return Promise.reject(new Error('task queue: stopped'));
    const holder = (this.holder ??= this.pool.connect().then(async (client) => {
      let released = false;
      const release = () => {
        if (released) return; // an error after close(), or a second error: the pool refuses a second release
        released = true;
        client.release(true);
      };
      client.on('error', (error: Error) => {
        if (!released) this.log.warn({ err: error }, 'task queue: lost the connection that marks this process alive; reconnecting');
        if (this.holder === holder) this.holder = undefined;
        release();
      });
      // Stopped while connecting: nothing to hold.
      if (this.closed) {
        release();
        throw new Error('task queue: stopped');
      }
      try {
        await this.lock(client, [...this.ours]);
      } catch (error) {
        release(); // a connection that failed to lock is not kept (nor leaked)
        throw error;
      }
      return { client, release };
    }));
    holder.catch(() => {
      if (this.holder === holder) this.holder = undefined;
    });
    return holder;
  }

  private lock(client: pg.PoolClient, workers: string[]): Promise<void> {
    const done = this.locking.then(async () => {
      for (const worker of workers) await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [LOCK_SPACE, worker]);
    });
    this.locking = done.catch(() => undefined);
    return done;
  }
}
