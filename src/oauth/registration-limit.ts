import net from 'node:net';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import { OAuthError } from './errors.js';
import { hit, hitBelow, peek, type Window } from './rate-limit.js';

// REGISTRATION_LIMIT: client registrations per client address per hour, counted in Postgres. Only successful
// registrations count against it (counted in the registration's own transaction, so the limit is exact);
// refused ones (bad metadata, wrong content type, unreadable body) count under their own, higher limit, so
// that a client fixing its metadata is not locked out by its own mistakes, while junk is still throttled.

export const REGISTRATION_WINDOW_SECONDS = 3600;
/** Refused registrations allowed per address and window: this many times REGISTRATION_LIMIT. */
export const REFUSED_REGISTRATIONS_FACTOR = 5;

/** The eight 16-bit groups of an IPv6 address (a zone index ignored), or undefined when it is not one. */
function ipv6Groups(address: string): number[] | undefined {
  let text = address.replace(/%.*$/, '');
  if (!net.isIPv6(text)) return undefined;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parts = (s: string) => (s ? s.split(':') : []);
  const groups =
    tail === undefined
      ? parts(head)
      : [...parts(head), ...Array<string>(8 - parts(head).length - parts(tail).length).fill('0'), ...parts(tail)];
  return groups.map((g) => parseInt(g, 16));
}

/**
 * What a per-address limit counts: an IPv4 address as is (also when IPv4-mapped, `::ffff:192.0.2.1`), an IPv6
 * address by its /64, since one subscriber is usually given a whole /64 and can use any address in it.
 */
export function addressKey(ip: string): string {
  const groups = ipv6Groups(ip);
  if (!groups) return ip;
  const [g0, g1, g2, g3, g4, g5, g6 = 0, g7 = 0] = groups;
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0xffff) return `${g6 >> 8}.${g6 & 255}.${g7 >> 8}.${g7 & 255}`;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

const tooMany = (what: string, window: Window) =>
  new OAuthError(
    'temporarily_unavailable',
    `Too many ${what} from this address; try again in ${Math.ceil(window.retryAfter / 60)} minutes.`,
    429,
    {
      'Retry-After': String(window.retryAfter),
    },
  );

/** The registration limits of one request's client address. */
export class RegistrationLimit {
  readonly key: string;
  readonly refusedKey: string;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly limit: number,
    ip: string,
  ) {
    const address = addressKey(ip);
    this.key = `register:${address}`;
    this.refusedKey = `register-refused:${address}`;
  }

  /** Before reading the body: refuses (429) an address whose registrations or refusals reached their limit. */
  async check(): Promise<void> {
    const [done, refused] = await Promise.all([
      peek(this.db, this.key, REGISTRATION_WINDOW_SECONDS),
      peek(this.db, this.refusedKey, REGISTRATION_WINDOW_SECONDS),
    ]);
    if (done.hits >= this.limit) throw tooMany('client registrations', done);
    if (refused.hits >= this.limit * REFUSED_REGISTRATIONS_FACTOR) throw tooMany('refused client registrations', refused);
  }

  /** Counts a registration in its own transaction; refuses (429) when the window filled up meanwhile. */
  async count(trx: Transaction<Database>): Promise<void> {
    if (await hitBelow(trx, this.key, REGISTRATION_WINDOW_SECONDS, this.limit)) return;
    throw tooMany('client registrations', await peek(this.db, this.key, REGISTRATION_WINDOW_SECONDS));
  }

  /** Counts a refused registration. */
  async refused(): Promise<void> {
    await hit(this.db, this.refusedKey, REGISTRATION_WINDOW_SECONDS);
  }
}
