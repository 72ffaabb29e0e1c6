import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import { hashPassword, verifyPassword } from '../db/passwords.js';
import type { Database } from '../db/schema.js';
import { randomToken } from './crypto.js';
import { hit, peek } from './rate-limit.js';

// Email and password, as the sign-in forms (OAuth and account pages) check them: SIGNIN_LIMIT failed sign-ins
// per account per 15 minutes (counted in Postgres), and an unknown email costs one argon2 verification too, so
// that it answers like a wrong password.

const SIGNIN_WINDOW_SECONDS = 15 * 60;

export type SignInOutcome =
  { ok: true; user: { id: string; email: string } } | { ok: false; status: number; error: string; retryAfter?: number };

export class PasswordSignIn {
  private dummyHash: Promise<string> | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly config: Pick<Config, 'signinLimit'>,
  ) {}

  async check(emailInput: string | undefined, password: string | undefined): Promise<SignInOutcome> {
    const email = (emailInput ?? '').trim();
    if (!email || !password) return { ok: false, status: 200, error: 'Enter your email and password.' };
    const limitKey = `signin:${email.toLowerCase()}`;
    const limit = this.config.signinLimit;
    if (limit > 0) {
      const window = await peek(this.db, limitKey, SIGNIN_WINDOW_SECONDS);
      if (window.hits >= limit) {
        return {
          ok: false,
          status: 429,
          error: `Too many failed sign-ins for this account. Try again in ${Math.ceil(window.retryAfter / 60)} minutes.`,
          retryAfter: window.retryAfter,
        };
      }
    }
    const user = await this.db
      .selectFrom('users')
      .select(['id', 'email', 'password_hash'])
      .where((eb) => eb.fn<string>('lower', ['email']), '=', email.toLowerCase())
      .executeTakeFirst();
    this.dummyHash ??= hashPassword(randomToken(16));
    const ok = await verifyPassword(user?.password_hash ?? (await this.dummyHash), password);
    if (!user || !ok) {
      if (limit > 0) await hit(this.db, limitKey, SIGNIN_WINDOW_SECONDS);
      return { ok: false, status: 200, error: 'The email or password is wrong.' };
    }
    return { ok: true, user: { id: user.id, email: user.email } };
  }
}
