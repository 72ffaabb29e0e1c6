import crypto from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Context } from 'koa';
import type { Database } from '../db/schema.js';
import type { BrowserCookies } from './browser-cookies.js';
import { randomToken, safeEqual, sha256 } from './crypto.js';

// The browser session of the sign-in and account pages: a random id in an HttpOnly, SameSite=Lax cookie
// (`__Host-lakehouse_session` over https, src/oauth/browser-cookies.ts); Postgres keeps only its SHA-256. A new
// id at every sign-in (the browser's previous session, if any, ends: an id set before sign-in is never the one
// after), at most 12 h long, ended after 1 h without a request, by sign-out, and when the user loses a
// membership or is deleted. Every page request reads the row (one UPDATE that also refreshes last_seen_at), so
// an ended session is refused by every server process at once. The forms of a signed-in page carry a CSRF
// token: an HMAC of the session id and the form's purpose.

export const SESSION_COOKIE = 'lakehouse_session';
export const SESSION_MAX_SECONDS = 12 * 3600;
export const SESSION_IDLE_SECONDS = 3600;

export interface BrowserSession {
  /** The session id (the cookie's value): never logged or stored as is. */
  id: string;
  userId: string;
  email: string;
}

/** What a signed-in form is for: each has its own CSRF token. */
export type SessionFormPurpose = 'consent' | 'sign-out' | 'revoke';

export class BrowserSessions {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly cookies: BrowserCookies,
    private readonly csrfKey: Buffer,
  ) {}

  /** Signs `userId` in in this browser: ends its current session (if any) and sets a new id. */
  async start(ctx: Context, user: { id: string; email: string }): Promise<BrowserSession> {
    const previous = this.cookies.read(ctx, SESSION_COOKIE);
    const id = randomToken(32);
    await this.db.transaction().execute(async (trx) => {
      if (previous) await trx.deleteFrom('browser_sessions').where('id_hash', '=', sha256(previous)).execute();
      await trx
        .insertInto('browser_sessions')
        .values({ id_hash: sha256(id), user_id: user.id, expires_at: sql<Date>`now() + make_interval(secs => ${SESSION_MAX_SECONDS})` })
        .execute();
    });
    this.cookies.set(ctx, SESSION_COOKIE, id, SESSION_MAX_SECONDS);
    return { id, userId: user.id, email: user.email };
  }

  /** The browser's live session (and notes this request as activity), or undefined. */
  async current(ctx: Context): Promise<BrowserSession | undefined> {
    const id = this.cookies.read(ctx, SESSION_COOKIE);
    if (!id) return undefined;
    const row = await this.db
      .updateTable('browser_sessions as s')
      .from('users as u')
      .set({ last_seen_at: sql<Date>`now()` })
      .whereRef('u.id', '=', 's.user_id')
      .where('s.id_hash', '=', sha256(id))
      .where('s.expires_at', '>', sql<Date>`now()`)
      .where('s.last_seen_at', '>', sql<Date>`now() - make_interval(secs => ${SESSION_IDLE_SECONDS})`)
      .returning(['s.user_id', 'u.email'])
      .executeTakeFirst();
    return row ? { id, userId: row.user_id, email: row.email } : undefined;
  }

  /** Ends the browser's session (sign-out) and deletes its cookie. */
  async end(ctx: Context, session: BrowserSession): Promise<void> {
    await this.db.deleteFrom('browser_sessions').where('id_hash', '=', sha256(session.id)).execute();
    this.cookies.set(ctx, SESSION_COOKIE, '', 0);
  }

  csrf(session: BrowserSession, purpose: SessionFormPurpose): string {
    return crypto.createHmac('sha256', this.csrfKey).update(`session\n${session.id}\n${purpose}`).digest('base64url');
  }

  checkCsrf(session: BrowserSession, purpose: SessionFormPurpose, token: string | undefined): boolean {
    return token !== undefined && safeEqual(token, this.csrf(session, purpose));
  }

  /** Deletes sessions past their end (they are refused already). */
  async prune(): Promise<void> {
    await this.db
      .deleteFrom('browser_sessions')
      .where((eb) =>
        eb.or([
          eb('expires_at', '<', sql<Date>`now()`),
          eb('last_seen_at', '<', sql<Date>`now() - make_interval(secs => ${SESSION_IDLE_SECONDS})`),
        ]),
      )
      .execute();
  }
}

/** Ends every browser session of a user (membership removed): on every process, since each reads the row. */
export async function endUserSessions(db: Kysely<Database>, userId: string): Promise<number> {
  const result = await db.deleteFrom('browser_sessions').where('user_id', '=', userId).executeTakeFirst();
  return Number(result.numDeletedRows);
}
