import { inspect } from 'node:util';
import { Migrator, type Kysely, type Migration } from 'kysely';
import { migrations as allMigrations } from './migrations/index.js';

export class MigrationError extends Error {
  override name = 'MigrationError';
}

/**
 * Apply pending migrations (under Kysely's advisory lock, so a server and the CLI starting together are safe);
 * returns the names applied. `migrations` is replaceable for tests.
 */
export async function migrateToLatest<DB>(db: Kysely<DB>, migrations: Record<string, Migration> = allMigrations): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error) {
    const failed = results.find((r) => r.status === 'Error')?.migrationName;
    const cause = error instanceof Error ? error.message : inspect(error);
    throw new MigrationError(
      `database migration ${failed ? `"${failed}" ` : ''}failed: ${cause}. Nothing of it was applied; ` +
        'fix the cause (or restore the database) and start again',
      { cause: error },
    );
  }
  return results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
