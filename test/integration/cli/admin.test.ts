import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.js';
import { runCli, singleJson, type CliResult } from './run-cli.js';

const PASSWORD = 'correct horse battery';

let test: TestDatabase;
const admin = (...args: string[]) => runCli(args, { DATABASE_URL: test.url });

async function rowCounts(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of ['organizations', 'environments', 'users', 'memberships'] as const) {
    const row = await test.db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    counts[table] = row.n;
  }
  return counts;
}

function assertRefused(result: CliResult, code: number, message: RegExp): void {
  assert.equal(result.code, code, result.stderr);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${result.stderr}`);
  assert.match(lines[0] ?? '', /^error: /);
  assert.match(lines[0] ?? '', message);
}

before(async () => {
  test = await createTestDatabase();
});
after(() => test.drop());

describe('admin CLI commands with --json', () => {
  it('org create prints {"organization": {id, name}}', async () => {
    const result = await admin('org', 'create', 'acme', '--json');
    assert.equal(result.code, 0, result.stderr);
    const { organization } = singleJson(result) as { organization: { id: string; name: string } };
    assert.equal(organization.name, 'acme');
    assert.match(organization.id, /^[0-9a-f-]{36}$/);
  });

  it('env create prints {"environment": …} for <org>/<env>', async () => {
    const result = await admin('env', 'create', 'acme/production', '--json');
    assert.equal(result.code, 0, result.stderr);
    const { environment } = singleJson(result) as { environment: { organization: string; name: string; time_zone: string } };
    assert.deepEqual([environment.organization, environment.name, environment.time_zone], ['acme', 'production', 'UTC']);
  });

  it('user create prints {"user": {id, email}} and stores an argon2id hash, never the password', async () => {
    const result = await admin('user', 'create', 'ada@example.com', '--password', PASSWORD, '--json');
    assert.equal(result.code, 0, result.stderr);
    const { user } = singleJson(result) as { user: { id: string; email: string } };
    assert.equal(user.email, 'ada@example.com');
    const row = await test.db.selectFrom('users').select('password_hash').where('id', '=', user.id).executeTakeFirstOrThrow();
    assert.match(row.password_hash, /^\$argon2id\$/);
  });

  it('member add prints {"membership": …}, and without --json one human line', async () => {
    const result = await admin('member', 'add', 'ada@example.com', 'acme/production', '--role', 'writer', '--json');
    assert.equal(result.code, 0, result.stderr);
    const { membership } = singleJson(result) as { membership: { role: string; email: string } };
    assert.deepEqual([membership.email, membership.role], ['ada@example.com', 'writer']);

    const human = await admin('member', 'add', 'ada@example.com', 'acme/production', '--role', 'admin');
    assert.equal(human.code, 0, human.stderr);
    assert.equal(human.stdout, 'ada@example.com is admin of acme/production (was writer)\n');
    assert.equal(human.stderr, '');
  });

  it('--help lists every command and exits 0', async () => {
    const result = await admin('--help');
    assert.equal(result.code, 0);
    for (const words of ['org create', 'env create', 'user create', 'member add']) assert.ok(result.stdout.includes(words));
  });
});

describe('admin CLI refusals: one line on stderr, non-zero exit, database unchanged', { concurrency: true }, () => {
  let before_: Record<string, number>;
  before(async () => {
    before_ = await rowCounts();
  });
  const unchanged = async () => assert.deepEqual(await rowCounts(), before_);

  // One spawn per rule the CLI itself must show (each costs ~1-2 s of tsx start-up); the full matrix of
  // refusals is covered in-process by test/integration/db/directory.test.ts.
  const cases: Array<[string, string[], number, RegExp]> = [
    ['a duplicate organization', ['org', 'create', 'acme'], 1, /organization "acme" already exists/],
    ['an organization name that is not a slug', ['org', 'create', 'Bad_Name'], 1, /invalid organization name "Bad_Name"/],
    ['an environment name that is not a slug', ['env', 'create', 'acme/Prod'], 1, /invalid environment name "Prod"/],
    [
      'an environment of an unknown organization',
      ['env', 'create', 'nope/production'],
      1,
      /unknown organization "nope": create it with `admin org create nope`/,
    ],
    ['a duplicate email, whatever its case', ['user', 'create', 'ADA@example.com', '--password', PASSWORD], 1, /already exists/],
    ['a weak password', ['user', 'create', 'bob@example.com', '--password', 'password'], 1, /at least 12 characters/],
    [
      'an unknown user',
      ['member', 'add', 'ghost@example.com', 'acme/production', '--role', 'reader'],
      1,
      /unknown user ghost@example.com: create it with `admin user create/,
    ],
    [
      'an unknown environment',
      ['member', 'add', 'ada@example.com', 'acme/staging', '--role', 'reader'],
      1,
      /unknown environment acme\/staging: create it with `admin env create acme\/staging`/,
    ],
    [
      'a bad role',
      ['member', 'add', 'ada@example.com', 'acme/production', '--role', 'owner'],
      1,
      /invalid role "owner": use one of reader, writer, admin/,
    ],
    ['an unknown command (usage, exit 2)', ['org', 'delete', 'acme'], 2, /unknown command "org delete"/],
    ['a missing --password (usage, exit 2)', ['user', 'create', 'bob@example.com'], 2, /missing --password/],
    ['an unknown option (usage, exit 2)', ['org', 'create', 'x', '--force'], 2, /Unknown option '--force'/],
  ];
  for (const [what, args, code, message] of cases) {
    it(`refuses ${what}`, async () => {
      assertRefused(await admin(...args), code, message);
      await unchanged();
    });
  }

  it('prints the refusal as one JSON document {"error": {code, message}} with --json', async () => {
    const result = await admin('org', 'create', 'acme', '--json');
    assertRefused(result, 1, /already exists/);
    assert.deepEqual(singleJson(result), {
      error: { code: 'already_exists', message: 'organization "acme" already exists' },
    });
    await unchanged();
  });
});

describe('admin CLI: environment time zones', () => {
  const zoneOf = async (name: string) =>
    (await test.db.selectFrom('environments').select('time_zone').where('name', '=', name).executeTakeFirstOrThrow()).time_zone;

  it('env create --time-zone stores the IANA name in its canonical spelling', async () => {
    const result = await admin('env', 'create', 'acme/berlin', '--time-zone', 'europe/berlin', '--json');
    assert.equal(result.code, 0, result.stderr);
    const { environment } = singleJson(result) as { environment: { time_zone: string } };
    assert.equal(environment.time_zone, 'Europe/Berlin');
    assert.equal(await zoneOf('berlin'), 'Europe/Berlin');
  });

  it('env set --time-zone changes it and says what it was', async () => {
    const result = await admin('env', 'set', 'acme/berlin', '--time-zone', 'America/New_York');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'acme/berlin time zone: America/New_York (was Europe/Berlin)\n');
    assert.equal(await zoneOf('berlin'), 'America/New_York');
  });

  it('refuses an unknown zone, saying how to list valid ones, and changes nothing', async () => {
    const before_ = await rowCounts();
    const list = /use an IANA time zone name .*supportedValuesOf\('timeZone'\)/;
    assertRefused(await admin('env', 'create', 'acme/mars', '--time-zone', 'Mars/Olympus'), 1, /unknown time zone "Mars\/Olympus": /);
    assertRefused(await admin('env', 'set', 'acme/berlin', '--time-zone', "UTC'; DROP TABLE environments; --"), 1, list);
    assertRefused(await admin('env', 'set', 'acme/berlin'), 2, /missing --time-zone/);
    assertRefused(await admin('env', 'set', 'acme/nowhere', '--time-zone', 'UTC'), 1, /unknown environment acme\/nowhere/);
    assert.deepEqual(await rowCounts(), before_);
    assert.equal(await zoneOf('berlin'), 'America/New_York');
  });
});

describe('admin CLI: environment scan budgets', () => {
  const budgetOf = async (name: string) =>
    await test.db
      .selectFrom('environments')
      .select(['scan_budget_rows as rows', 'scan_budget_bytes as bytes'])
      .where('name', '=', name)
      .executeTakeFirstOrThrow();

  it('is unlimited by default; env create --scan-budget sets it', async () => {
    assert.equal((await admin('env', 'create', 'acme/unbudgeted')).code, 0);
    assert.deepEqual(await budgetOf('unbudgeted'), { rows: null, bytes: null });
    const result = await admin('env', 'create', 'acme/budgeted', '--scan-budget', '50M', '--json');
    assert.equal(result.code, 0, result.stderr);
    const { environment } = singleJson(result) as { environment: { scan_budget: unknown } };
    assert.deepEqual(environment.scan_budget, { rows: 50_000_000, bytes: null });
    assert.deepEqual(await budgetOf('budgeted'), { rows: 50_000_000, bytes: null });
  });

  it('env set --scan-budget takes rows, bytes, both or unlimited, and says what it was', async () => {
    const set = (value: string) => admin('env', 'set', 'acme/budgeted', '--scan-budget', value);
    let result = await set('10GB');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'acme/budgeted scan budget: 10 GB (was 50,000,000 rows)\n');
    assert.deepEqual(await budgetOf('budgeted'), { rows: null, bytes: 10_000_000_000 });
    result = await set('1.5M rows, 512MiB');
    assert.equal(result.stdout, 'acme/budgeted scan budget: 1,500,000 rows and 537 MB (was 10 GB)\n');
    assert.deepEqual(await budgetOf('budgeted'), { rows: 1_500_000, bytes: 512 * 2 ** 20 });
    result = await set('unlimited');
    assert.equal(result.stdout, 'acme/budgeted scan budget: unlimited (was 1,500,000 rows and 537 MB)\n');
    assert.deepEqual(await budgetOf('budgeted'), { rows: null, bytes: null });
  });

  it('refuses negative, zero, garbage and huge values, changing nothing', async () => {
    assert.equal((await admin('env', 'set', 'acme/budgeted', '--scan-budget', '7M')).code, 0);
    const before_ = await rowCounts();
    const syntax = /invalid scan budget .*`50M`, `10GB`, `50M,10GB`.*`unlimited`/;
    const set = (value: string): string[] => ['env', 'set', 'acme/budgeted', '--scan-budget', value];
    // Every value's rules are in test/unit/scan-budget.test.ts; here, that the CLI refuses them (in parallel: each is a process).
    const cases: [string[], RegExp][] = [
      [set('-5'), syntax],
      [set("1'; DROP TABLE environments; --"), syntax],
      [set('99999999999999999999'), /at most 9007199254740991 rows/],
      [['env', 'create', 'acme/hostile', '--scan-budget', '-1'], syntax],
      [['env', 'set', 'acme/nowhere', '--scan-budget', '5M'], /unknown environment acme\/nowhere/],
      // A bad budget stops the time zone given with it too.
      [['env', 'set', 'acme/budgeted', '--time-zone', 'Asia/Tokyo', '--scan-budget', 'x'], syntax],
    ];
    const results = await Promise.all(cases.map(([args]) => admin(...args)));
    results.forEach((result, i) => assertRefused(result, 1, cases[i]![1]));
    assert.deepEqual(await rowCounts(), before_);
    assert.deepEqual(await budgetOf('budgeted'), { rows: 7_000_000, bytes: null });
    assert.equal(
      (await test.db.selectFrom('environments').select('time_zone').where('name', '=', 'budgeted').executeTakeFirstOrThrow()).time_zone,
      'UTC',
    );
  });

  it('env set with --time-zone and --scan-budget changes both, in one transaction', async () => {
    const result = await admin('env', 'set', 'acme/budgeted', '--time-zone', 'Asia/Tokyo', '--scan-budget', '9M', '--json');
    assert.equal(result.code, 0, result.stderr);
    const { environment } = singleJson(result) as { environment: Record<string, unknown> };
    assert.equal(environment.time_zone, 'Asia/Tokyo');
    assert.equal(environment.previous_time_zone, 'UTC');
    assert.deepEqual(environment.scan_budget, { rows: 9_000_000, bytes: null });
    assert.deepEqual(environment.previous_scan_budget, { rows: 7_000_000, bytes: null });
    assert.deepEqual(await budgetOf('budgeted'), { rows: 9_000_000, bytes: null });
  });
});
