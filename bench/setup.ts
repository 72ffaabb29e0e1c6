import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { addMember, createEnvironment, createOrganization, createUser, findEnvironment } from '../src/db/directory.js';
import { createServiceAccount } from '../src/oauth/admin.js';

// Run by bench/run.ts as a child process, beside the running server (same DATA_DIR or DATABASE_URL):
// an organization and environment, a service account (client_credentials) and a user who is a writer
// there (for the authorization-code flow that starts the refresh-token chains). Prints one JSON document.

export const BENCH_ORG = 'bench';
export const BENCH_ENV = 'main';
export const BENCH_EMAIL = 'bench@example.com';
export const BENCH_PASSWORD = 'a sturdy benchmark passphrase';
/** More environments of the organization, for the scenario that queries several at once. */
export const BENCH_EXTRA_ENVS = ['huge-a', 'huge-b', 'huge-c'];

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
    for (const environment of BENCH_EXTRA_ENVS) {
      // A DATA_DIR kept from an older benchmark may lack them.
      await findEnvironment(db, { organization: BENCH_ORG, environment }).catch(() =>
        createEnvironment(db, { organization: BENCH_ORG, environment }),
      );
    }
    const stamp = new Date().toISOString();
    const account = await createServiceAccount(db, ref, `bench ${stamp}`, ['read']);
    const extra = [];
    for (const environment of BENCH_EXTRA_ENVS) {
      const other = await createServiceAccount(db, { organization: BENCH_ORG, environment }, `bench ${stamp}`, ['read']);
      extra.push({ clientId: other.client_id, clientSecret: other.client_secret });
    }
    process.stdout.write(
      `${JSON.stringify({ databaseUrl: database.url, clientId: account.client_id, clientSecret: account.client_secret, extra })}\n`,
    );
  } finally {
    await database.close();
  }
}

await main();
