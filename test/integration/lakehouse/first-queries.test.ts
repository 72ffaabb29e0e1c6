import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEnvironment, createOrganization } from '../../../src/db/directory.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.js';
import { startTestLakehouse } from '../../helpers/lakehouse.js';
import { SECRET } from './harness.js';

// The first queries of several new environments at once, as after a restart: each starts its DuckDB worker,
// and with fewer worker slots than environments (QUERY_WORKERS = 3) the pool hands slots over as workers go
// idle; every query is answered (the PostgreSQL sandbox once failed here with "tuple concurrently updated").
describe('first queries of new environments at once', () => {
  let database: TestDatabase;
  const ids: string[] = [];

  before(async () => {
    database = await createTestDatabase();
    await createOrganization(database.db, 'acme');
    for (let i = 0; i < 8; i++) ids.push((await createEnvironment(database.db, { organization: 'acme', environment: `env-${i}` })).id);
  });
  after(async () => {
    await database?.drop();
  });

  it('answers the first query of eight new environments started together, with three worker slots', async () => {
    for (let round = 0; round < 2; round++) {
      const fresh = await startTestLakehouse(database.db, SECRET, { QUERY_WORKERS: '3', QUERY_QUEUE_MS: '30000' });
      try {
        const answers = await Promise.allSettled(
          ids.map((id) =>
            fresh.query(id, 'sample', 'SELECT count(*) FROM users', { limit: 1, offset: 0, maxBytes: 1024, timeoutMs: 15_000 }),
          ),
        );
        const failed = answers.flatMap((a) => (a.status === 'rejected' ? [String((a.reason as Error).message)] : []));
        assert.deepEqual(failed, [], `round ${round}`);
        const counts = answers.map((a) => (a.status === 'fulfilled' ? a.value.rows[0]?.[0] : undefined));
        assert.equal(new Set(counts).size, 1, 'every environment sees the same sample');
      } finally {
        await fresh.close();
      }
    }
  });
});
