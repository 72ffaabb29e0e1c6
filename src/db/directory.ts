import type { Kysely } from 'kysely';
import { DirectoryError } from './errors.js';
import { checkEmail, checkSlug, formatEnvironmentRef, parseRole, type EnvironmentRef } from './names.js';
import { hashPassword, passwordWeakness } from './passwords.js';
import type { Database, Role } from './schema.js';
import { checkTimeZone as checkZone, DEFAULT_TIME_ZONE, InvalidTimeZone } from '../time/time-zone.js';

// Organizations, environments, users and memberships: the writes behind `admin org|env|user|member` (and later
// the server). Each validates first, then writes in one transaction; "already exists" is detected by the insert
// itself (ON CONFLICT DO NOTHING, or the unique violation), so concurrent callers cannot both succeed.
// Only type imports from kysely: the CLI loads this module before it knows whether it needs the database.

export interface OrganizationInfo {
  id: string;
  name: string;
}

export interface EnvironmentInfo {
  id: string;
  organization_id: string;
  organization: string;
  name: string;
  /** IANA name; relative time filters resolve in it. */
  time_zone: string;
}

/** An environment's scan budget as stored: null is unlimited (src/lakehouse/scan-budget.ts parses and applies it). */
export interface ScanBudgetLimits {
  rows: number | null;
  bytes: number | null;
}

export interface UserInfo {
  id: string;
  email: string;
}

export interface MembershipInfo {
  user_id: string;
  email: string;
  environment_id: string;
  organization: string;
  environment: string;
  role: Role;
  /** The role before, when the user was already a member (the call then changed or kept it). */
  previous_role: Role | null;
}

function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23505';
}

export async function createOrganization(db: Kysely<Database>, name: string): Promise<OrganizationInfo> {
  checkSlug('organization', name);
  const row = await db
    .insertInto('organizations')
    .values({ name })
    .onConflict((oc) => oc.column('name').doNothing())
    .returning(['id', 'name'])
    .executeTakeFirst();
  if (!row) throw new DirectoryError('already_exists', `organization "${name}" already exists`);
  return row;
}

export async function createEnvironment(
  db: Kysely<Database>,
  ref: EnvironmentRef,
  options: { timeZone?: string; scanBudget?: ScanBudgetLimits } = {},
): Promise<EnvironmentInfo> {
  checkSlug('organization', ref.organization);
  checkSlug('environment', ref.environment);
  const time_zone = checkTimeZone(options.timeZone ?? DEFAULT_TIME_ZONE);
  return db.transaction().execute(async (trx) => {
    const organization = await trx
      .selectFrom('organizations')
      .select(['id', 'name'])
      .where('name', '=', ref.organization)
      .forShare() // the organization cannot disappear under the insert
      .executeTakeFirst();
    if (!organization) {
      throw new DirectoryError(
        'not_found',
        `unknown organization "${ref.organization}": create it with \`admin org create ${ref.organization}\``,
      );
    }
    const row = await trx
      .insertInto('environments')
      .values({
        organization_id: organization.id,
        name: ref.environment,
        time_zone,
        scan_budget_rows: options.scanBudget?.rows ?? null,
        scan_budget_bytes: options.scanBudget?.bytes ?? null,
      })
      .onConflict((oc) => oc.columns(['organization_id', 'name']).doNothing())
      .returning(['id', 'organization_id', 'name', 'time_zone'])
      .executeTakeFirst();
    if (!row) throw new DirectoryError('already_exists', `environment ${formatEnvironmentRef(ref)} already exists`);
    return { ...row, organization: organization.name };
  });
}

export async function createUser(db: Kysely<Database>, email: string, password: string): Promise<UserInfo> {
  checkEmail(email);
  const weakness = passwordWeakness(password);
  if (weakness) throw new DirectoryError('weak_password', weakness);
  const password_hash = await hashPassword(password);
  try {
    return await db.insertInto('users').values({ email, password_hash }).returning(['id', 'email']).executeTakeFirstOrThrow();
  } catch (error) {
    // The unique index is on lower(email), an expression that ON CONFLICT cannot name without raw SQL.
    if (isUniqueViolation(error)) throw new DirectoryError('already_exists', `user ${email} already exists`);
    throw error;
  }
}

/** Make the user a member of the environment with `role`; for an existing member, set the role. */
export async function addMember(db: Kysely<Database>, email: string, ref: EnvironmentRef, role: string): Promise<MembershipInfo> {
  checkSlug('organization', ref.organization);
  checkSlug('environment', ref.environment);
  const checkedRole = parseRole(role);
  return db.transaction().execute(async (trx) => {
    const user = await trx
      .selectFrom('users')
      .select(['id', 'email'])
      .where((eb) => eb.fn<string>('lower', ['email']), '=', email.toLowerCase())
      .forShare()
      .executeTakeFirst();
    if (!user) {
      throw new DirectoryError('not_found', `unknown user ${email}: create it with \`admin user create ${email} --password <password>\``);
    }
    const environment = await trx
      .selectFrom('environments')
      .innerJoin('organizations', 'organizations.id', 'environments.organization_id')
      .select(['environments.id'])
      .where('organizations.name', '=', ref.organization)
      .where('environments.name', '=', ref.environment)
      .forShare('environments')
      .executeTakeFirst();
    if (!environment) {
      const name = formatEnvironmentRef(ref);
      throw new DirectoryError('not_found', `unknown environment ${name}: create it with \`admin env create ${name}\``);
    }
    const previous = await trx
      .selectFrom('memberships')
      .select('role')
      .where('user_id', '=', user.id)
      .where('environment_id', '=', environment.id)
      .forUpdate()
      .executeTakeFirst();
    await trx
      .insertInto('memberships')
      .values({ user_id: user.id, environment_id: environment.id, role: checkedRole })
      .onConflict((oc) => oc.columns(['user_id', 'environment_id']).doUpdateSet({ role: checkedRole }))
      .execute();
    return {
      user_id: user.id,
      email: user.email,
      environment_id: environment.id,
      organization: ref.organization,
      environment: ref.environment,
      role: checkedRole,
      previous_role: previous?.role ?? null,
    };
  });
}

/** Finds an environment by `<org>/<env>`. */
export async function findEnvironment(db: Kysely<Database>, ref: EnvironmentRef): Promise<EnvironmentInfo> {
  checkSlug('organization', ref.organization);
  checkSlug('environment', ref.environment);
  const row = await db
    .selectFrom('environments')
    .innerJoin('organizations', 'organizations.id', 'environments.organization_id')
    .select([
      'environments.id',
      'environments.organization_id',
      'environments.name',
      'environments.time_zone',
      'organizations.name as organization',
    ])
    .where('organizations.name', '=', ref.organization)
    .where('environments.name', '=', ref.environment)
    .executeTakeFirst();
  if (!row) throw unknownEnvironment(ref);
  return row;
}

function checkTimeZone(name: string): string {
  try {
    return checkZone(name);
  } catch (error) {
    if (error instanceof InvalidTimeZone) throw new DirectoryError('invalid_time_zone', error.message);
    throw error;
  }
}

function unknownEnvironment(ref: EnvironmentRef): DirectoryError {
  const name = formatEnvironmentRef(ref);
  return new DirectoryError('not_found', `unknown environment ${name}: create it with \`admin env create ${name}\``);
}

/** What `admin env set` may change; what is left out stays as it is. */
export interface EnvironmentSettings {
  /** IANA name. */
  timeZone?: string;
  /** null limits: unlimited. */
  scanBudget?: ScanBudgetLimits;
}

/** Changes an environment's settings in one transaction; says what each was before. */
export async function setEnvironmentSettings(
  db: Kysely<Database>,
  ref: EnvironmentRef,
  settings: EnvironmentSettings,
): Promise<EnvironmentInfo & { previous_time_zone: string; scan_budget: ScanBudgetLimits; previous_scan_budget: ScanBudgetLimits }> {
  const time_zone = settings.timeZone === undefined ? undefined : checkTimeZone(settings.timeZone);
  const budget = settings.scanBudget;
  const environment = await findEnvironment(db, ref);
  return db.transaction().execute(async (trx) => {
    const previous = await trx
      .selectFrom('environments')
      .select(['time_zone', 'scan_budget_rows', 'scan_budget_bytes'])
      .where('id', '=', environment.id)
      .forUpdate()
      .executeTakeFirst();
    if (!previous) throw unknownEnvironment(ref); // removed meanwhile
    if (time_zone !== undefined || budget) {
      await trx
        .updateTable('environments')
        .set({
          ...(time_zone !== undefined ? { time_zone } : {}),
          ...(budget ? { scan_budget_rows: budget.rows, scan_budget_bytes: budget.bytes } : {}),
        })
        .where('id', '=', environment.id)
        .execute();
    }
    const previousBudget = { rows: previous.scan_budget_rows, bytes: previous.scan_budget_bytes };
    return {
      ...environment,
      time_zone: time_zone ?? previous.time_zone,
      previous_time_zone: previous.time_zone,
      scan_budget: budget ?? previousBudget,
      previous_scan_budget: previousBudget,
    };
  });
}
