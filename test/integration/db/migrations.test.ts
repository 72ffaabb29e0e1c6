import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { MigrationError, migrateToLatest } from '../../../src/db/migrate.js';
import { migrations } from '../../../src/db/migrations/index.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.js';

// The foundation tables; later migrations add more (OAuth, lakehouse, assets).
const TABLES = ['audit_log', 'docs', 'environments', 'memberships', 'organizations', 'users'];

async function tables<DB>(db: Kysely<DB>): Promise<string[]> {
  const { rows } = await sql<{ table_name: string }>`
    SELECT table_name FROM information_schema.tables
     WHERE table_schema = 'public' AND table_name NOT LIKE 'kysely_%' ORDER BY table_name`.execute(db);
  return rows.map((r) => r.table_name);
}

async function sqlState(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe('migrations', () => {
  let test: TestDatabase;
  before(async () => {
    test = await createTestDatabase({ migrate: false });
  });
  after(() => test.drop());

  it('apply on an empty database, creating every table', async () => {
    assert.deepEqual(await tables(test.db), []);
    assert.deepEqual(await migrateToLatest(test.db), Object.keys(migrations));
    const created = await tables(test.db);
    for (const table of TABLES) assert.ok(created.includes(table), `${table} is created`);
  });

  it('are idempotent: a second run applies nothing and changes nothing', async () => {
    const before = await tables(test.db);
    assert.deepEqual(await migrateToLatest(test.db), []);
    assert.deepEqual(await tables(test.db), before);
  });

  it(
    'up to date: one query answers, without waiting for the lock another process holds while it migrates',
    { timeout: 30_000 },
    async () => {
      // Kysely's migration lock (PostgresAdapter's advisory lock id), held by another session: the Migrator
      // would wait for it; a database with every migration applied does not need it. (Hangs to the timeout if not.)
      const holder = new pg.Client({ connectionString: test.url });
      await holder.connect();
      try {
        await holder.query('SELECT pg_advisory_lock(3853314791062309107)');
        assert.deepEqual(await migrateToLatest(test.db), []);
      } finally {
        await holder.end();
      }
    },
  );

  it('a migration this code does not know is still reported by the Migrator, not skipped', async () => {
    await sql`INSERT INTO kysely_migration (name, timestamp) VALUES ('9998-from-a-newer-version', now())`.execute(test.db);
    try {
      await assert.rejects(migrateToLatest(test.db), (error: unknown) => {
        assert.ok(error instanceof MigrationError);
        assert.match(error.message, /9998-from-a-newer-version/);
        return true;
      });
    } finally {
      await sql`DELETE FROM kysely_migration WHERE name = '9998-from-a-newer-version'`.execute(test.db);
    }
  });

  it('enforce slug names, case-insensitive unique emails and known roles in the database too', async () => {
    const { db } = test;
    assert.equal(await sqlState(db.insertInto('organizations').values({ name: 'Acme' }).execute()), '23514');
    assert.equal(await sqlState(db.insertInto('organizations').values({ name: '-acme' }).execute()), '23514');
    const org = await db.insertInto('organizations').values({ name: 'acme' }).returning('id').executeTakeFirstOrThrow();
    assert.match(org.id, /^[0-9a-f-]{36}$/);
    const env = await db
      .insertInto('environments')
      .values({ organization_id: org.id, name: 'prod' })
      .returning('id')
      .executeTakeFirstOrThrow();
    await db.insertInto('users').values({ email: 'Ada@Example.com', password_hash: 'x' }).execute();
    assert.equal(await sqlState(db.insertInto('users').values({ email: 'ada@example.COM', password_hash: 'x' }).execute()), '23505');
    const user = await db.selectFrom('users').select('id').executeTakeFirstOrThrow();
    const badRole = sql`INSERT INTO memberships (user_id, environment_id, role) VALUES (${user.id}, ${env.id}, 'owner')`;
    assert.equal(await sqlState(badRole.execute(db)), '23514');
  });

  it('index docs for full-text search with the title weighted above the body', async () => {
    const { db } = test;
    await db
      .insertInto('docs')
      .values([
        { slug: 'a', title: 'Dashboards', body: 'widgets and layout', content_hash: 'h1' },
        { slug: 'b', title: 'Insights', body: 'an insight can be placed on dashboards', content_hash: 'h2' },
      ])
      .execute();
    const { rows } = await sql<{ slug: string }>`
      SELECT slug FROM docs WHERE search @@ websearch_to_tsquery('english', 'dashboard')
       ORDER BY ts_rank(search, websearch_to_tsquery('english', 'dashboard')) DESC`.execute(db);
    assert.deepEqual(
      rows.map((r) => r.slug),
      ['a', 'b'],
    );
  });

  it('fail with a clear MigrationError naming the migration, leaving nothing of it behind', async () => {
    const broken = {
      ...migrations,
      '9999-broken': {
        async up(db: Kysely<unknown>) {
          await sql`CREATE TABLE half_done (id int)`.execute(db);
          await sql`SELECT no_such_function()`.execute(db);
        },
      },
    };
    const before = await tables(test.db);
    await assert.rejects(migrateToLatest(test.db, broken), (error: unknown) => {
      assert.ok(error instanceof MigrationError);
      assert.match(error.message, /migration "9999-broken" failed: function no_such_function\(\) does not exist/);
      return true;
    });
    assert.deepEqual(await tables(test.db), before);
    assert.ok(!before.includes('half_done'));
  });
});
