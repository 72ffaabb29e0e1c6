import { sql, type Kysely } from 'kysely';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { Database, JsonObject } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { decrypt, deriveKey, encrypt, SecretKeyError } from '../secret-key.js';
import { randomToken } from './crypto.js';
import { ACCESS_TOKEN_TTL_SECONDS } from './tokens.js';

export const SIGNING_ALG = 'ES256';

/** Retired keys stay published and verifiable until every token they signed has expired (plus slack for clocks and reloads). */
export const RETIRED_KEY_RETENTION_SECONDS = ACCESS_TOKEN_TTL_SECONDS + 300;

/** Processes pick up a rotated key within this time (and at once when they meet its kid). */
const PERIODIC_RELOAD_MS = 30_000;

const ADVISORY_LOCK = 'lakehouse-mcp:signing-keys';

export class SigningKeyMismatchError extends SecretKeyError {}

/** The key that seals private JWKs: one HKDF purpose of SECRET_KEY. */
export const signingKeySealKey = (secret: Buffer) => deriveKey(secret, 'oauth-signing-keys');

async function newKeyRow(sealKey: Buffer) {
  const { privateKey, publicKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const kid = randomToken(12);
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: SIGNING_ALG, use: 'sig' };
  const privateJwk = await exportJWK(privateKey);
  return {
    kid,
    alg: SIGNING_ALG as 'ES256',
    public_jwk: publicJwk as JsonObject,
    private_jwk_encrypted: encrypt(sealKey, JSON.stringify(privateJwk), kid),
  };
}

/**
 * Adds a new signing key and retires the others (they stay verifiable for RETIRED_KEY_RETENTION_SECONDS).
 * Runs under an advisory lock so that concurrent rotations or first starts do not interleave.
 */
export async function rotateSigningKey(db: Kysely<Database>, secret: Buffer): Promise<{ kid: string; retired: string[] }> {
  const sealKey = signingKeySealKey(secret);
  const row = await newKeyRow(sealKey);
  return db.transaction().execute(async (trx) => {
    // Raw SQL: an advisory lock is a function call with no table, nothing for the query builder.
    await sql`SELECT pg_advisory_xact_lock(hashtext(${ADVISORY_LOCK}))`.execute(trx);
    // A key sealed under another SECRET_KEY would stop every server from starting: check ours opens the current one.
    const current = await trx
      .selectFrom('oauth_signing_keys')
      .select(['kid', 'private_jwk_encrypted'])
      .where('retired_at', 'is', null)
      .executeTakeFirst();
    if (current) {
      try {
        decrypt(sealKey, current.private_jwk_encrypted, current.kid);
      } catch {
        throw new SigningKeyMismatchError(
          "SECRET_KEY does not decrypt the signing keys in the database; run this with the deployment's SECRET_KEY",
        );
      }
    }
    const retired = await trx
      .updateTable('oauth_signing_keys')
      .set({ retired_at: sql<Date>`clock_timestamp()` })
      .where('retired_at', 'is', null)
      .returning('kid')
      .execute();
    await trx.insertInto('oauth_signing_keys').values(row).execute();
    return { kid: row.kid, retired: retired.map((r) => r.kid) };
  });
}

/** Creates the first signing key unless an active one exists (safe when several processes start at once). */
export async function ensureSigningKey(db: Kysely<Database>, secret: Buffer): Promise<boolean> {
  // Every start after the first finds one: a plain read, without the lock's transaction (four round trips).
  const existing = await db.selectFrom('oauth_signing_keys').select('kid').where('retired_at', 'is', null).executeTakeFirst();
  if (existing) return false;
  return db.transaction().execute(async (trx) => {
    // Raw SQL: an advisory lock is a function call with no table, nothing for the query builder.
    await sql`SELECT pg_advisory_xact_lock(hashtext(${ADVISORY_LOCK}))`.execute(trx);
    const active = await trx.selectFrom('oauth_signing_keys').select('kid').where('retired_at', 'is', null).executeTakeFirst();
    if (active) return false;
    await trx
      .insertInto('oauth_signing_keys')
      .values(await newKeyRow(signingKeySealKey(secret)))
      .execute();
    return true;
  });
}

interface PublicKeyEntry {
  kid: string;
  jwk: JWK;
  key: CryptoKey;
}

/**
 * The signing keys of this process, loaded from the database: the current private key (decrypted with
 * SECRET_KEY) and every public key still valid. Reloaded periodically and on an unknown kid (throttled).
 */
export class KeyStore {
  private current: { kid: string; key: CryptoKey } | undefined;
  private publicKeys = new Map<string, PublicKeyEntry>();
  private lastLoad = 0;
  private loading: Promise<void> | undefined;
  private scheduled: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly sealKey: Buffer;

  constructor(
    private readonly db: Kysely<Database>,
    secret: Buffer,
    private readonly log: Pick<Logger, 'warn' | 'info'>,
    private readonly minReloadIntervalMs = 1_000,
  ) {
    this.sealKey = signingKeySealKey(secret);
  }

  /** First load: makes a key if there is none; a SECRET_KEY that cannot decrypt the keys is a clear start-up error. */
  async start(secret: Buffer): Promise<void> {
    if (await ensureSigningKey(this.db, secret)) this.log.info('created the first token signing key');
    await this.load();
    this.timer = setInterval(() => {
      this.load().catch((error: unknown) => this.log.warn({ err: error }, 'reloading the signing keys failed'));
    }, PERIODIC_RELOAD_MS);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  private load(): Promise<void> {
    return (this.loading ??= this.doLoad().finally(() => {
      this.loading = undefined;
    }));
  }

  private async doLoad(): Promise<void> {
    this.lastLoad = Date.now();
    const rows = await this.db
      .selectFrom('oauth_signing_keys')
      .selectAll()
      .where((eb) =>
        eb.or([
          eb('retired_at', 'is', null),
          eb('retired_at', '>', sql<Date>`now() - make_interval(secs => ${RETIRED_KEY_RETENTION_SECONDS})`),
        ]),
      )
      .orderBy('created_at', 'desc')
      .execute();
    const active = rows.find((r) => r.retired_at === null);
    if (!active) throw new Error('no active token signing key in the database; run `admin keys rotate`');
    if (this.current?.kid !== active.kid) {
      let privateJwk: JWK;
      try {
        privateJwk = JSON.parse(decrypt(this.sealKey, active.private_jwk_encrypted, active.kid)) as JWK;
      } catch {
        throw new SigningKeyMismatchError(
          'SECRET_KEY does not decrypt the signing keys in the database: give this process the SECRET_KEY of the ' +
            'deployment (every process must share it), or, if that key is lost, delete the rows of oauth_signing_keys ' +
            'and run `admin keys rotate` (tokens signed before then stop working)',
        );
      }
      this.current = { kid: active.kid, key: (await importJWK(privateJwk, SIGNING_ALG)) as CryptoKey };
    }
    const next = new Map<string, PublicKeyEntry>();
    for (const row of rows) {
      const existing = this.publicKeys.get(row.kid);
      const jwk = row.public_jwk as JWK;
      next.set(row.kid, existing ?? { kid: row.kid, jwk, key: (await importJWK(jwk, SIGNING_ALG)) as CryptoKey });
    }
    this.publicKeys = next;
  }

  signingKey(): { kid: string; key: CryptoKey } {
    if (!this.current) throw new Error('the key store is not started');
    return this.current;
  }

  /**
   * The public key of `kid`. An unknown kid (a key rotated in by another process) triggers a reload; reloads
   * are at most one per minReloadIntervalMs, and callers within that window share the next one, so a stream
   * of forged kids costs the database one query per interval and a new real key is found at the latest then.
   */
  async publicKey(kid: string): Promise<CryptoKey | undefined> {
    const known = this.publicKeys.get(kid);
    if (known) return known.key;
    const wait = this.lastLoad + this.minReloadIntervalMs - Date.now();
    if (wait > 0) {
      this.scheduled ??= new Promise<void>((resolve) => setTimeout(resolve, wait).unref()).then(() => {
        this.scheduled = undefined;
        return this.load();
      });
      await this.scheduled;
    } else {
      await this.load();
    }
    return this.publicKeys.get(kid)?.key;
  }

  jwks(): { keys: JWK[] } {
    return { keys: [...this.publicKeys.values()].map((k) => k.jwk) };
  }
}
