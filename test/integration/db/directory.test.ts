import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addMember, createEnvironment, createOrganization, createUser } from '../../../src/db/directory.js';
import { DirectoryError, type DirectoryErrorCode } from '../../../src/db/errors.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.js';

const PASSWORD = 'correct horse battery';

async function refusal(promise: Promise<unknown>, code: DirectoryErrorCode, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof DirectoryError, String(error));
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  });
}

describe('directory writes', () => {
  let test: TestDatabase;
  before(async () => {
    test = await createTestDatabase();
  });
  after(() => test.drop());

  it('create an organization, an environment, a user and a membership', async () => {
    const { db } = test;
    const org = await createOrganization(db, 'acme');
    const env = await createEnvironment(db, { organization: 'acme', environment: 'production' });
    assert.equal(env.organization_id, org.id);
    const user = await createUser(db, 'Ada@Example.com', PASSWORD);
    const membership = await addMember(db, 'ada@example.com', { organization: 'acme', environment: 'production' }, 'writer');
    assert.deepEqual(
      { user: membership.user_id, env: membership.environment_id, role: membership.role, previous: membership.previous_role },
      { user: user.id, env: env.id, role: 'writer', previous: null },
    );
  });

  it('change the role of an existing member instead of adding a second membership', async () => {
    const { db } = test;
    const ref = { organization: 'acme', environment: 'production' };
    const membership = await addMember(db, 'ADA@example.com', ref, 'admin');
    assert.equal(membership.previous_role, 'writer');
    const rows = await db.selectFrom('memberships').select('role').execute();
    assert.deepEqual(rows, [{ role: 'admin' }]);
  });

  it('refuse duplicates, unknown names, weak passwords and bad roles with a code and what to do', async () => {
    const { db } = test;
    const prod = { organization: 'acme', environment: 'production' };
    await refusal(createOrganization(db, 'acme'), 'already_exists', /organization "acme" already exists/);
    await refusal(createOrganization(db, 'Acme'), 'invalid_name', /invalid organization name "Acme"/);
    await refusal(createEnvironment(db, prod), 'already_exists', /environment acme\/production already exists/);
    await refusal(
      createEnvironment(db, { organization: 'nope', environment: 'x' }),
      'not_found',
      /unknown organization "nope": create it with `admin org create nope`/,
    );
    await refusal(createUser(db, 'ada@EXAMPLE.com', PASSWORD), 'already_exists', /already exists/);
    await refusal(createUser(db, 'bob@example.com', 'short'), 'weak_password', /at least 12/);
    await refusal(createUser(db, 'not-an-email', PASSWORD), 'invalid_email', /invalid email/);
    await refusal(addMember(db, 'ghost@example.com', prod, 'reader'), 'not_found', /unknown user ghost@example.com: create it with/);
    await refusal(
      addMember(db, 'ada@example.com', { organization: 'acme', environment: 'staging' }, 'reader'),
      'not_found',
      /unknown environment acme\/staging: create it with `admin env create acme\/staging`/,
    );
    await refusal(addMember(db, 'ada@example.com', prod, 'owner'), 'invalid_role', /use one of reader, writer, admin/);
    const counts = await Promise.all(
      (['organizations', 'environments', 'users', 'memberships'] as const).map(async (table) => {
        const row = await db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow();
        return row.n;
      }),
    );
    assert.deepEqual(counts, [1, 1, 1, 1]);
  });
});
