import pg from 'pg';
import { createDb } from '../../../src/db/database.js';
import { createLogger } from '../../../src/logger.js';
import { TaskScheduler, type TaskSchedulerOptions } from '../../../src/tasks/scheduler.js';
import { taskSettings, type TaskSettings } from '../../../src/tasks/settings.js';
import type { AssetHarness } from '../assets/harness.js';

// Task schedulers as server processes run them, each on its own connection pools over the harness's
// database, with a clock the test moves. They tick only when the test says (tick()), never on their own.

export interface TestClock {
  now: Date;
  (): Date;
}

export function testClock(start: Date): TestClock {
  const clock = (() => clock.now) as TestClock;
  clock.now = start;
  return clock;
}

export interface SchedulerHandle {
  scheduler: TaskScheduler;
  stop(): Promise<void>;
}

export async function startScheduler(
  harness: AssetHarness,
  clock: () => Date,
  options: { settings?: Partial<TaskSettings>; beforeCommit?: TaskSchedulerOptions['beforeCommit'] } = {},
): Promise<SchedulerHandle> {
  const db = createDb(harness.database.url);
  const pool = new pg.Pool({ connectionString: harness.database.url, max: 6 });
  const scheduler = await new TaskScheduler({
    db,
    pool,
    lakehouse: harness.lakehouse,
    log: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
    publicUrl: harness.servers.a.url,
    // Hours between ticks of its own: the test calls tick().
    settings: { ...taskSettings({}), tickMs: 3_600_000, maxAttempts: 2, ...options.settings },
    nudgeWebhooks: () => undefined,
    clock,
    ...(options.beforeCommit ? { beforeCommit: options.beforeCommit } : {}),
  }).start();
  return {
    scheduler,
    async stop() {
      await scheduler.stop();
      await pool.end();
      await db.destroy();
    },
  };
}
