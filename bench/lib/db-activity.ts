import pg from 'pg';

/** The application_name the server's main pool is given (PGAPPNAME); the sandbox names its own 'lakehouse-mcp sandbox'. */
export const SERVER_APP_NAME = 'lakehouse-mcp';
export const SANDBOX_APP_NAME = 'lakehouse-mcp sandbox';

export interface Activity {
  /** Connections of the server's main pool (application_name SERVER_APP_NAME). */
  main: number;
  /** Connections of the server's SQL sandbox pools. */
  sandbox: number;
  /** Server connections inside a statement or a transaction (state other than idle). */
  busy: number;
  /** Other client connections to the database (not the server's, not this monitor). */
  others: number;
}

/**
 * A single monitoring connection (named, so that it never counts itself) reading pg_stat_activity of
 * one database: the server's connections by pool and by state.
 */
export class ActivityMonitor {
  private constructor(private readonly client: pg.Client) {}

  static async open(url: string): Promise<ActivityMonitor> {
    const client = new pg.Client({ connectionString: url, application_name: 'lakehouse-soak monitor', connectionTimeoutMillis: 10_000 });
    client.on('error', () => undefined);
    await client.connect();
    return new ActivityMonitor(client);
  }

  async sample(): Promise<Activity> {
    const { rows } = await this.client.query<{ main: number; sandbox: number; busy: number; others: number }>(
      `SELECT count(*) FILTER (WHERE application_name = $1)::int AS main,
              count(*) FILTER (WHERE application_name = $2)::int AS sandbox,
              count(*) FILTER (WHERE application_name IN ($1, $2) AND state IS DISTINCT FROM 'idle')::int AS busy,
              count(*) FILTER (WHERE application_name NOT IN ($1, $2))::int AS others
       FROM pg_stat_activity
       WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`,
      [SERVER_APP_NAME, SANDBOX_APP_NAME],
    );
    const row = rows[0];
    return { main: row?.main ?? 0, sandbox: row?.sandbox ?? 0, busy: row?.busy ?? 0, others: row?.others ?? 0 };
  }

  /** Samples every `intervalMs` until `done(sample)` or `timeoutMs`; answers the last sample and when it was taken. */
  async until(
    done: (a: Activity) => boolean,
    timeoutMs: number,
    intervalMs = 250,
  ): Promise<{ activity: Activity; ms: number; met: boolean }> {
    const t0 = Date.now();
    for (;;) {
      const activity = await this.sample();
      const ms = Date.now() - t0;
      if (done(activity)) return { activity, ms, met: true };
      if (ms > timeoutMs) return { activity, ms, met: false };
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}
