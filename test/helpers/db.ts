import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { createDb, withDatabase } from '../../src/db/database.js';
import { removeEmbeddedCluster, type StartupLog } from '../../src/db/embedded-postgres.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import type { Database } from '../../src/db/schema.js';

/**
 * The run's sample and lakehouse folders (test/run.ts makes them once per run), as the variables a server's
 * configuration reads: test servers never generate a sample nor write into the repository's .data.
 */
export function testLakehouseEnv(): Record<string, string> {
  const { SAMPLE_DIR, SAMPLE_EVENTS, TEST_LAKEHOUSE_DIR } = process.env;
  return {
    ...(SAMPLE_DIR ? { SAMPLE_DIR } : {}),
    ...(SAMPLE_EVENTS ? { SAMPLE_EVENTS } : {}),
    ...(TEST_LAKEHOUSE_DIR ? { DATA_DIR: TEST_LAKEHOUSE_DIR } : {}),
  };
}

/** Superuser URL of the run's PostgreSQL, exported by test/run.ts. */
export function testServerUrl(): string {
  const url = process.env.TEST_PG_URL || process.env.DATABASE_URL;
  if (!url) throw new Error('TEST_PG_URL is not set: run tests through `npm test` (test/run.ts), which starts PostgreSQL');
  return url;
}

export interface TestDatabase {
  name: string;
  /** Superuser URL of this database. */
  url: string;
  db: Kysely<Database>;
  /** Close `db`, end other sessions on the database and drop it. */
  drop(): Promise<void>;
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: testServerUrl() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * A fresh database `t_<random>` on the run's server, migrated unless `migrate: false`; one per test file.
 * A migrated one is a copy of the run's template (test/run.ts: migrated, with the sample data), made in
 * about half a second, so that a server started on it finds the sample data and generates nothing.
 */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  const template = process.env.TEST_TEMPLATE_DB;
  const migrate = options.migrate ?? true;
  await admin((client) =>
    client.query(migrate && template ? `CREATE DATABASE ${name} TEMPLATE ${template} STRATEGY FILE_COPY` : `CREATE DATABASE ${name}`),
  );
  const url = withDatabase(testServerUrl(), name);
  const db = createDb(url);
  if (migrate) await migrateToLatest(db);
  let dropped = false;
  return {
    name,
    url,
    db,
    async drop() {
      if (dropped) return;
      dropped = true;
      await db.destroy();
      // WITH (FORCE) terminates sessions a test left open (e.g. a CLI child killed mid-way).
      await admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
      await dropSandboxRoles(name);
    },
  };
}

/**
 * The sandbox roles of a dropped test database (roles are cluster-wide): named `lh_<install id>_…`, with
 * the install id the database drew (src/lakehouse/provision.ts), remembered here by database name.
 */
const installIds = new Map<string, string>();

/** Remembers a test database's install id, so that drop() can remove its roles. */
export function noteInstallId(database: string, installId: string): void {
  installIds.set(database, installId);
}

async function dropSandboxRoles(database: string): Promise<void> {
  const install = installIds.get(database);
  if (!install) return;
  await admin(async (client) => {
    const roles = await client.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname LIKE $1', [`lh\\_${install}\\_%`]);
    for (const { rolname } of roles.rows) await client.query(`DROP ROLE IF EXISTS "${rolname}"`);
  });
}

/** Builds the template database (migrated) that migrated test databases are copied from (once per run). */
export async function createTemplateDatabase(serverUrl: string): Promise<{ name: string; ms: number; drop(): Promise<void> }> {
  const started = Date.now();
  const name = `lh_template_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const db = createDb(withDatabase(serverUrl, name));
  try {
    await migrateToLatest(db);
  } finally {
    await db.destroy();
  }
  return {
    name,
    ms: Date.now() - started,
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** A temporary DATA_DIR other users can enter (mkdtemp makes 0700), so root runs postgres in place. */
export async function makeDataDir(prefix = 'lakehouse-data-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  await fs.chmod(dir, 0o755);
  return dir;
}

/** Remove a DATA_DIR and its embedded cluster, wherever that was relocated. The cluster must be stopped. */
export async function removeDataDir(dir: string): Promise<void> {
  await removeEmbeddedCluster(dir);
  await fs.rm(dir, { recursive: true, force: true });
}

/** A StartupLog that keeps its lines, for assertions (and quiet test output). */
export function captureLog(): StartupLog & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (message) => lines.push(`info: ${message}`),
    warn: (message) => lines.push(`warn: ${message}`),
    debug: () => undefined,
  };
}
