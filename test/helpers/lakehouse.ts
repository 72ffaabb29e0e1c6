import type { Kysely } from 'kysely';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/schema.js';
import { startLakehouse, type Lakehouse } from '../../src/lakehouse/index.js';
import { createLogger } from '../../src/logger.js';
import { testLakehouseEnv } from './db.js';

/** A lakehouse as a server starts it, on the run's sample and lakehouse folders (test/run.ts). */
export function startTestLakehouse(db: Kysely<Database>, secret: Buffer, env: Record<string, string> = {}): Promise<Lakehouse> {
  const config = loadConfig({ ...testLakehouseEnv(), ...env });
  return startLakehouse({ config, db, secret, log: createLogger('silent'), progress: () => undefined });
}
