import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Config } from '../config.js';
import { startEmbeddedPostgres, type EmbeddedPostgres, type StartupLog } from './embedded-postgres.js';
import { migrateToLatest } from './migrate.js';
import type { Database } from './schema.js';

export type { Database } from './schema.js';

/** The application database inside the embedded cluster. */
export const APP_DATABASE = 'lakehouse';

const INT8_OID = 20;

/** int8 (bigint ids, count(*)) as a number while exact, as the digit string beyond 2^53 rather than a wrong number. */
function parseInt8(value: string): number | string {
  const parsed = Number(value);
  return Number.isSafeInteger(parsed) ? parsed : value;
}

// Per pool rather than pg.types.setTypeParser: the lakehouse sandbox opens its own connections with other rules.
type TextParser = (value: string) => unknown;
const builtinParser = pg.types.getTypeParser as (oid: number, format: 'text' | 'binary') => TextParser;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): TextParser =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : builtinParser(oid, format ?? 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

export function createPool(url: string, options: Omit<pg.PoolConfig, 'connectionString' | 'types'> = {}): pg.Pool {
  // A connection attempt to a database host that went silent (no refusal, no answer) would otherwise wait for the
  // kernel's TCP timeout with the request on hold; after 5 s it fails as "database unavailable" (503).
  const pool = new pg.Pool({ max: 10, connectionTimeoutMillis: 5_000, ...options, connectionString: url, types });
  // An idle connection that the server ends (restart, pg_terminate_backend) emits 'error' on the pool;
  // unhandled, that would crash the process. The pool drops it and opens a new one on the next query.
  pool.on('error', () => undefined);
  // pg-pool listens for errors only on idle clients: a checked-out client that loses its server between two
  // queries (inside a transaction, say) would emit an unhandled 'error' and crash the process when the
  // database goes away. Its next query fails instead, and the pool discards it on release.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** A typed Kysely over a pool (created from `url`, or given). Destroying it ends the pool. */
export function createDb(urlOrPool: string | pg.Pool): Kysely<Database> {
  const pool = typeof urlOrPool === 'string' ? createPool(urlOrPool) : urlOrPool;
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/** `url` with another database name. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.href;
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.href;
  } catch {
    return '(unparsable URL)';
  }
}

/** CREATE DATABASE unless it exists; safe when two processes race (the loser sees 42P04). */
export async function ensureDatabaseExists(serverUrl: string, database: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount) return false;
    try {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === '42P04') return false;
      throw error;
    }
  } finally {
    await client.end();
  }
}

export interface OpenDatabase {
  db: Kysely<Database>;
  pool: pg.Pool;
  /** URL of the application database (superuser of the embedded cluster, or DATABASE_URL). */
  url: string;
  /** The embedded cluster, when DATABASE_URL is unset. */
  embedded: EmbeddedPostgres | undefined;
  /** Destroy the pool, then stop the embedded cluster if this process started it. */
  close(): Promise<void>;
}

/**
 * The migrated application database: DATABASE_URL when set, else the `lakehouse` database of the embedded
 * cluster in DATA_DIR (started, or attached to when another process runs it).
 */
export async function openDatabase(
  config: Pick<Config, 'databaseUrl' | 'dataDir'>,
  log: StartupLog,
  options: {
    durable?: boolean;
    /** The cluster the caller began starting earlier (npm start, while the server's modules load). */
    started?: Promise<EmbeddedPostgres>;
    /** Its superuser URL once it accepts connections (onAccepting): the pool connects beside the cluster's own check. */
    accepting?: Promise<string>;
  } = {},
): Promise<OpenDatabase> {
  const { started, accepting, ...startOptions } = options;
  let cluster: Promise<EmbeddedPostgres> | undefined;
  let superuserUrl: string | undefined;
  let url: string;
  if (config.databaseUrl) {
    url = config.databaseUrl;
  } else {
    cluster = started ?? startEmbeddedPostgres({ dataDir: config.dataDir, log, ...startOptions });
    superuserUrl = await Promise.race([...(accepting ? [accepting] : []), cluster.then((running) => running.url)]);
    url = withDatabase(superuserUrl, APP_DATABASE);
  }
  const pool = createPool(url);
  const db = createDb(pool);
  // Once: the server that owns it and `npm start` after a failed start may both close it.
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await db.destroy();
      await (await cluster?.catch(() => undefined))?.stop();
    })());
  let embedded: EmbeddedPostgres | undefined;
  try {
    // Raw SQL: a round trip that proves the connection, before the migrator's own statements. The embedded
    // cluster's application database is created when it is missing (the first start), rather than checked
    // over a connection of its own at every start.
    await sql`SELECT 1`
      .execute(db)
      .catch(async (error: unknown) => {
        if (!superuserUrl || (error as { code?: string }).code !== '3D000') throw error;
        if (await ensureDatabaseExists(superuserUrl, APP_DATABASE)) log.info(`created database "${APP_DATABASE}"`);
        return sql`SELECT 1`.execute(db);
      })
      .catch(async (error: unknown) => {
        await cluster; // the cluster's own failure (a wrong password, say) says more
        const reason = error instanceof Error ? error.message : String(error);
        throw new Error(`cannot connect to the database at ${redact(url)}: ${reason}`, { cause: error });
      });
    embedded = await cluster;
    const applied = await migrateToLatest(db);
    if (applied.length) log.info(`applied migrations: ${applied.join(', ')}`);
  } catch (error) {
    await close();
    throw error;
  }
  return { db, pool, url, embedded, close };
}
