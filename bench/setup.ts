import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { addMember, createEnvironment, createOrganization, createUser } from '../src/db/directory.js';
import { createServiceAccount } from '../src/oauth/admin.js';

// Run by bench/run.ts as a child process, beside the running server (same DATA_DIR or DATABASE_URL):
// an organization and environment, a service account (client_credentials) and a user who is a writer
// there (for the authorization-code flow that starts the refresh-token chains). Prints one JSON document.

export const BENCH_ORG = 'bench';
export const BENCH_ENV = 'main';
export const BENCH_EMAIL = 'bench@example.com';
export const BENCH_PASSWORD = 'a sturdy benchmark passphrase';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const quiet = { info: () => undefined, debug: () => undefined, warn: (line: string) => process.stderr.write(`${line}\n`) };
  const database = await openDatabase(config, quiet);
  try {
    const { db } = database;
    const ref = { organization: BENCH_ORG, environment: BENCH_ENV };
    if (!(await db.selectFrom('organizations').select('id').where('name', '=', BENCH_ORG).executeTakeFirst())) {
      await createOrganization(db, BENCH_ORG);
      await createEnvironment(db, ref);
      await createUser(db, BENCH_EMAIL, BENCH_PASSWORD);
      await addMember(db, BENCH_EMAIL, ref, 'writer');
    }
    const account = await createServiceAccount(db, ref, `bench ${new Date().toISOString()}`, ['read']);
    process.stdout.write(`${JSON.stringify({ databaseUrl: database.url, clientId: account.client_id, clientSecret: account.client_secret })}\n`);
  } finally {
    await database.close();
  }
}

await main();
