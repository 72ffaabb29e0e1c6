import { inspect } from 'node:util';
import { Migrator, sql, type Kysely, type Migration } from 'kysely';
import { migrations as allMigrations } from './migrations/index.js';

export class MigrationError extends Error {
  override name = 'MigrationError';
}

/**
 * Whether exactly these migrations are applied: one query, where the Migrator takes its lock and makes several
 * round trips, at every start and every admin command. Anything else (a new database, a pending migration, one
 * this code does not know) is left to the Migrator, which applies or reports it.
 */
async function allApplied<DB>(db: Kysely<DB>, names: string[]): Promise<boolean> {
  try {
    // Raw SQL: Kysely's own bookkeeping table, outside the typed schema.
    const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(db);
    const applied = new Set(rows.map((row) => row.name));
    return applied.size === names.length && names.every((name) => applied.has(name));
  } catch {
    return false; // no migration table yet
  }
}

/**
 * Apply pending migrations (under Kysely's advisory lock, so a server and the CLI starting together are safe);
 * returns the names applied. `migrations` is replaceable for tests.
 */
export async function migrateToLatest<DB>(db: Kysely<DB>, migrations: Record<string, Migration> = allMigrations): Promise<string[]> {
  if (await allApplied(db, Object.keys(migrations))) return [];
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
