import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import type { Database } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { deriveKey } from '../secret-key.js';
import { AuthorizationEndpoint } from './authorize.js';
import { BrowserCookies } from './browser-cookies.js';
import { BrowserSessions } from './browser-session.js';
import { ClientRegistry } from './clients.js';
import { GrantService } from './grants.js';
import { KeyStore } from './keys.js';
import { pruneCounters } from './rate-limit.js';
import { PasswordSignIn } from './sign-in.js';
import { JwtTokenVerifier, type JwtTokenVerifierOptions } from './verifier.js';

export interface OAuthServerOptions {
  config: Config;
  db: Kysely<Database>;
  log: Logger;
  /** The deployment's 32-byte SECRET_KEY (src/secret-key.ts). */
  secret: Buffer;
  verifier?: JwtTokenVerifierOptions;
}

/**
 * The authorization server and the resource's token verifier of one process: signing keys loaded from the
 * database, the verifier's revocation poll, clients, grants and the sign-in pages. `start()` before use,
 * `close()` on shutdown.
 */
export class OAuthServer {
  readonly config: Config;
  readonly db: Kysely<Database>;
  readonly log: Logger;
  readonly keys: KeyStore;
  readonly verifier: JwtTokenVerifier;
  readonly clients: ClientRegistry;
  readonly grants: GrantService;
  readonly authorization: AuthorizationEndpoint;
  /** The browser sessions of the sign-in and account pages. */
  readonly sessions: BrowserSessions;
  readonly signIns: PasswordSignIn;
  readonly cookies: BrowserCookies;
  private readonly secret: Buffer;
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(options: OAuthServerOptions) {
    this.config = options.config;
    this.db = options.db;
    this.log = options.log;
    this.secret = options.secret;
    this.keys = new KeyStore(this.db, this.secret, this.log);
    this.verifier = new JwtTokenVerifier(this.config, this.db, this.keys, this.log, options.verifier);
    this.clients = new ClientRegistry(this.db, this.config.allowPrivateNetwork);
    this.grants = new GrantService(this.config, this.db, this.keys, this.verifier);
    this.cookies = new BrowserCookies(this.config.issuerUrl);
    this.sessions = new BrowserSessions(this.db, this.cookies, this.deriveKey('browser-session-csrf'));
    this.signIns = new PasswordSignIn(this.db, this.config);
    this.authorization = new AuthorizationEndpoint(this);
  }

  /** A key for one purpose, derived from SECRET_KEY. */
  deriveKey(purpose: string): Buffer {
    return deriveKey(this.secret, purpose);
  }

  /** Loads (or makes) the signing keys; fails clearly when SECRET_KEY cannot decrypt them. */
  async start(): Promise<void> {
    // One after the other: at once, they would open a second connection (see the server's start-up steps).
    await this.keys.start(this.secret);
    await this.verifier.start();
    this.pruneTimer = setInterval(() => {
      pruneCounters(this.db).catch((error: unknown) => this.log.warn({ err: error }, 'pruning rate-limit counters failed'));
      this.grants
        .pruneRevokedAccessTokens()
        .catch((error: unknown) => this.log.warn({ err: error }, 'pruning revoked access tokens failed'));
      this.sessions.prune().catch((error: unknown) => this.log.warn({ err: error }, 'pruning browser sessions failed'));
    }, 10 * 60_000);
    this.pruneTimer.unref();
  }

  close(): void {
    this.keys.close();
    this.verifier.close();
    clearInterval(this.pruneTimer);
  }

  /** The issuer's path ('' or '/auth'), under which the /oauth endpoints are also served. */
  get issuerPath(): string {
    return new URL(this.config.issuerUrl).pathname.replace(/\/+$/, '');
  }
}
