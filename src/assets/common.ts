import { sql } from 'kysely';
import { AppError, notFound } from '../errors.js';
import type { Principal } from '../oauth/principal.js';

/** Who created or changed an asset, as stored: `user:<id>` or `service:<id>`. */
export const actorOf = (principal: Principal): string => principal.subject;

export const iso = (date: Date): string => date.toISOString();

/** An asset that does not exist in the caller's environment (whether or not it exists in another one). */
export const assetNotFound = (kind: string, id: string) => notFound(`No ${kind} ${id} in this environment.`);

/** A stale `version` on an update: the caller must read again and retry. */
export const staleVersion = (kind: string, id: string, given: number, current: number) =>
  new AppError(
    'conflict',
    `The ${kind} ${id} is at version ${current}, not ${given}: someone changed it since you read it. Read it again, reapply your change and retry with version ${current}.`,
  );

/**
 * Cursor pagination over (created_at DESC, id DESC): the cursor is opaque base64url of the last item's sort
 * key, with the timestamp as text at full microsecond precision (a JS Date would round it to milliseconds).
 */
export interface CursorKey {
  at: string;
  id: string;
}

export function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify([key.at, key.id])).toString('base64url');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

export function decodeCursor(cursor: string | undefined): CursorKey | undefined {
  if (cursor === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(value) &&
      typeof value[0] === 'string' &&
      typeof value[1] === 'string' &&
      TIMESTAMP.test(value[0]) &&
      UUID.test(value[1])
    ) {
      return { at: value[0], id: value[1] };
    }
  } catch {
    // fall through
  }
  throw new AppError('invalid_cursor', 'The cursor is not one this server gave; pass the `next_cursor` of the previous page as it was.');
}

/** The rows after a cursor's key in (created_at DESC, id DESC) order. */
export const afterCursor = (key: CursorKey) => sql<boolean>`(created_at, id) < (${key.at}::timestamptz, ${key.id}::uuid)`;

/** SQL for a row's sort key as the cursor holds it. */
export const SORT_KEY_SQL = `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** Takes `limit` rows of `limit + 1` and the cursor of the next page, when there is one. */
export function page<R extends { sort_key: string; id: string }>(rows: R[], limit: number): { rows: R[]; next_cursor?: string } {
  if (rows.length <= limit) return { rows };
  const kept = rows.slice(0, limit);
  const last = kept[kept.length - 1];
  return last ? { rows: kept, next_cursor: encodeCursor({ at: last.sort_key, id: last.id }) } : { rows: kept };
}

/** `T` with its nullable or undefined-able fields made optional (and never null). */
export type Compact<T> = { [K in keyof T as undefined extends T[K] ? never : null extends T[K] ? never : K]: T[K] } & {
  [K in keyof T as undefined extends T[K] ? K : null extends T[K] ? K : never]?: Exclude<T[K], null | undefined>;
};

/** Drops undefined and null fields (optional output fields are absent, never null). */
export function compact<T extends object>(value: T): Compact<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== null)) as Compact<T>;
}
