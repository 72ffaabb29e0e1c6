// Scheduled-task settings, from the environment (all optional). Read by the scheduler only, so they live here
// rather than in src/config.ts.

export interface TaskSettings {
  /** Runs at once per environment, across all processes (TASK_CONCURRENCY_PER_ENV, default 2); excess waits. */
  concurrencyPerEnv: number;
  /** Runs at once in this process (TASK_WORKERS, default 4; 0 runs no task in this process). */
  workers: number;
  /** How often this process looks for due slots (TASK_TICK_MS, default 5 s). */
  tickMs: number;
  /** A run's SQL deadline (TASK_TIMEOUT_MS, default 15 s). */
  timeoutMs: number;
  /** Attempts of a run that crashed (not one that failed on its own SQL) before it is recorded as failed (TASK_MAX_ATTEMPTS, default 3). */
  maxAttempts: number;
  /** Runs older than this many days are deleted (TASK_RUN_RETENTION_DAYS, default 90). */
  runRetentionDays: number;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new Error(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  return value;
}

export function taskSettings(env: NodeJS.ProcessEnv = process.env): TaskSettings {
  return {
    concurrencyPerEnv: integer(env, 'TASK_CONCURRENCY_PER_ENV', 2, 1, 100),
    workers: integer(env, 'TASK_WORKERS', 4, 0, 100),
    tickMs: integer(env, 'TASK_TICK_MS', 5_000, 10, 3_600_000),
    timeoutMs: integer(env, 'TASK_TIMEOUT_MS', 15_000, 100, 60_000),
    maxAttempts: integer(env, 'TASK_MAX_ATTEMPTS', 3, 1, 25),
    runRetentionDays: integer(env, 'TASK_RUN_RETENTION_DAYS', 90, 1, 36_500),
  };
}
