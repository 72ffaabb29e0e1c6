import type { Kysely } from 'kysely';
import pg from 'pg';
import { redact } from '../db/database.js';
import { DirectoryError } from '../db/errors.js';
import type { Database } from '../db/schema.js';
import { decrypt, deriveKey, encrypt } from '../secret-key.js';

// External PostgreSQL connections (`admin connection add`): the URL is sealed with a key derived from
// SECRET_KEY (AES-256-GCM), bound to its environment and name so that a sealed value moved to another
// row does not open. Queried under the same sandbox rules as the built-in ones; operators should give
// it a read-only database user (README).

export const CONNECTION_NAME = /^[a-z][a-z0-9_]{0,62}$/;

const context = (environmentId: string, name: string) => `connection:${environmentId}:${name}`;

export function sealUrl(secret: Buffer, url: string, environmentId: string, name: string): string {
  return encrypt(deriveKey(secret, 'connection-credentials'), url, context(environmentId, name));
}

export function openSealedUrl(secret: Buffer, sealed: string, environmentId: string, name: string): string {
  return decrypt(deriveKey(secret, 'connection-credentials'), sealed, context(environmentId, name));
}

export interface AddedConnection {
  id: string;
  name: string;
  url: string;
  server_version: string;
}

/** The oldest PostgreSQL a connection may be: the sandbox's pipelined statement relies on 11's per-Execute statement timeout. */
export const MIN_SERVER_VERSION_NUM = 110_000;

/** Refuses a server older than MIN_SERVER_VERSION_NUM (`server_version_num`), naming what it runs. */
export function checkServerVersion(versionNum: number, version: string): void {
  if (!(versionNum >= MIN_SERVER_VERSION_NUM)) {
    throw new DirectoryError(
      'invalid_name',
      `the database runs PostgreSQL ${version || 'of an unknown version'}; connections need PostgreSQL 11 or later`,
    );
  }
}

/** Checks that the URL answers (and says what it is), then stores it sealed. */
export async function addConnection(
  db: Kysely<Database>,
  secret: Buffer,
  environmentId: string,
  name: string,
  url: string,
): Promise<AddedConnection> {
  if (!CONNECTION_NAME.test(name) || name === 'lakehouse' || name === 'sample') {
    throw new DirectoryError(
      'invalid_name',
      `invalid connection name "${name}": use lowercase letters, digits and _, starting with a letter (lakehouse and sample are built in)`,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DirectoryError('invalid_name', 'the --postgres-url is not a URL; write it as postgres://user:password@host:5432/database');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new DirectoryError('invalid_name', 'the --postgres-url must start with postgres:// or postgresql://');
  }
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  let version: string;
  let versionNum: number;
  try {
    await client.connect();
    const row = await client.query<{ v: string; n: string }>(
      "SELECT current_setting('server_version') AS v, current_setting('server_version_num') AS n",
    );
    version = row.rows[0]?.v ?? '';
    versionNum = Number(row.rows[0]?.n ?? 0);
  } catch (error) {
    throw new DirectoryError('not_found', `cannot connect to ${redact(url)}: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await client.end().catch(() => undefined);
  }
  checkServerVersion(versionNum, version);
  const row = await db
    .insertInto('connections')
    .values({
      environment_id: environmentId,
      name,
      kind: 'postgres',
      sealed_url: sealUrl(secret, url, environmentId, name),
      display_url: redact(url),
    })
    .onConflict((oc) => oc.columns(['environment_id', 'name']).doNothing())
    .returning(['id'])
    .executeTakeFirst();
  if (!row) throw new DirectoryError('already_exists', `connection "${name}" already exists in this environment`);
  return { id: row.id, name, url: redact(url), server_version: version };
}
