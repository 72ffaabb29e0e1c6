import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEnvironment, createOrganization } from '../../../src/db/directory.js';
import { installId } from '../../../src/lakehouse/provision.js';
import { Lakehouse } from '../../../src/lakehouse/sandbox.js';
import { createLogger } from '../../../src/logger.js';
import { createTestDatabase, noteInstallId, type TestDatabase } from '../../helpers/db.js';
import { SECRET } from './harness.js';

// The first queries of several new environments at once each provision (repair) their role: every GRANT
// updates the same catalog rows (the database's, the sample schema's), and two at once failed the later
// one with "tuple concurrently updated" (seen by the benchmark's scenario 7).
describe('provisioning environments at once', () => {
  let database: TestDatabase;
  const ids: string[] = [];

  before(async () => {
    database = await createTestDatabase();
    noteInstallId(database.name, await installId(database.db));
    await createOrganization(database.db, 'acme');
    for (let i = 0; i < 8; i++) ids.push((await createEnvironment(database.db, { organization: 'acme', environment: `env-${i}` })).id);
  });
  after(async () => {
    await database?.drop();
  });

  it('answers the first query of eight new environments started together', async () => {
    for (let round = 0; round < 3; round++) {
      // A new Lakehouse has provisioned nothing yet in this process, as after a restart.
      const fresh = await new Lakehouse(database.db, {
        appUrl: database.url,
        secretKey: SECRET,
        sqlConcurrency: 2,
        log: createLogger('silent'),
      }).init();
      try {
        const answers = await Promise.allSettled(
          ids.map((id) =>
            fresh.query(id, 'sample', 'SELECT count(*) FROM users', { limit: 1, offset: 0, maxBytes: 1024, timeoutMs: 15_000 }),
          ),
        );
        const failed = answers.flatMap((a) => (a.status === 'rejected' ? [String((a.reason as Error).message)] : []));
        assert.deepEqual(failed, [], `round ${round}`);
      } finally {
        await fresh.close();
      }
    }
  });
});
