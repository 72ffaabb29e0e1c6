import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { resolveRange } from '../time/relative-range.js';
import { DEFAULT_TIME_ZONE, formatInZone } from '../time/time-zone.js';

/** The environment's IANA time zone (`admin env create --time-zone`, `admin env set`); one primary-key lookup. */
export async function timeZoneOf(db: Kysely<Database>, environmentId: string): Promise<string> {
  const row = await db.selectFrom('environments').select('time_zone').where('id', '=', environmentId).executeTakeFirst();
  return row?.time_zone ?? DEFAULT_TIME_ZONE;
}

/** A resolver of time-range phrases at `now` in `zone`, answering ISO 8601 with the zone's offset. */
export function rangeResolver(zone: string, now: number) {
  return (phrase: string) => {
    const range = resolveRange(phrase, zone, now);
    return { from: formatInZone(zone, range.from), to: formatInZone(zone, range.to) };
  };
}
