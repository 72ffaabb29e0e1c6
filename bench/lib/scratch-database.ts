import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Kysely } from 'kysely';
import { createDb, ensureDatabaseExists, withDatabase } from '../../src/db/database.js';
import { createEnvironment, createOrganization } from '../../src/db/directory.js';
import { removeEmbeddedCluster, startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/db/embedded-postgres.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import type { Database } from '../../src/db/schema.js';

/** A scenario's own migrated database with one environment `bench/<name>`, in a temp folder removed by close(). */
export interface ScratchDatabase {
  /** The scenario's temp folder (its files go here). */
  work: string;
  db: Kysely<Database>;
  environmentId: string;
  close: () => Promise<void>;
}

/**
 * On `databaseUrl`'s server, or on an embedded PostgreSQL of its own (not durable) when none is given:
 * database `bench_<name>_<pid>`, migrated.
 */
export async function openScratchDatabase(
  name: string,
  databaseUrl: string | undefined,
  say: (line: string) => void,
): Promise<ScratchDatabase> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `lakehouse-bench-${name}-`));
  const clusterDir = path.join(work, 'pg');
  let embedded: EmbeddedPostgres | undefined;
  let db: Kysely<Database> | undefined;
  const close = async () => {
    await db?.destroy();
    await embedded?.stop();
    if (embedded) await removeEmbeddedCluster(clusterDir).catch(() => undefined);
    fs.rmSync(work, { recursive: true, force: true });
  };
  try {
    let serverUrl = databaseUrl;
    if (!serverUrl) {
      fs.mkdirSync(clusterDir, { mode: 0o755 });
      fs.chmodSync(work, 0o755); // the cluster's user (postgres, when run as root) must reach it
      embedded = await startEmbeddedPostgres({
        dataDir: clusterDir,
        durable: false,
        log: { info: () => undefined, debug: () => undefined, warn: say },
      });
      serverUrl = embedded.url;
    }
    const database = `bench_${name}_${process.pid}`;
    await ensureDatabaseExists(serverUrl, database);
    db = createDb(withDatabase(serverUrl, database));
    await migrateToLatest(db);
    await createOrganization(db, 'bench');
    const environmentId = (await createEnvironment(db, { organization: 'bench', environment: name })).id;
    return { work, db, environmentId, close };
  } catch (error) {
    await close();
    throw error;
  }
}
