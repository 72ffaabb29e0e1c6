import pg from 'pg';

// Result values mapped to JSON faithfully (specs/tools/query_lakehouse.yaml): integers that fit as numbers,
// bigint and numeric as strings (no precision lost), timestamps as ISO-8601 (the session runs in UTC),
// json/jsonb as JSON, everything else as PostgreSQL's own text.

type TextParser = (value: string) => unknown;

const toIsoTimestamptz = (value: string) => (/^\d/.test(value) ? value.replace(' ', 'T').replace(/\+00$/, 'Z') : value);
const toIsoTimestamp = (value: string) => (/^\d/.test(value) ? value.replace(' ', 'T') : value);
const finiteOrText = (value: string) => {
  const n = Number(value);
  return Number.isFinite(n) ? n : value;
};
const identity = (value: string) => value;
const builtin = pg.types.getTypeParser as (oid: number, format: 'text') => TextParser;

const PARSERS: Record<number, TextParser> = {
  16: (value) => value === 't', // bool
  20: identity, // int8
  21: Number, // int2
  23: Number, // int4
  26: Number, // oid
  700: finiteOrText, // float4
  701: finiteOrText, // float8
  1700: identity, // numeric
  114: (value) => JSON.parse(value) as unknown, // json
  3802: (value) => JSON.parse(value) as unknown, // jsonb
  1114: toIsoTimestamp, // timestamp
  1184: toIsoTimestamptz, // timestamptz
  1007: builtin(1007, 'text'), // int4[]
  1005: builtin(1005, 'text'), // int2[]
  1000: builtin(1000, 'text'), // bool[]
  1009: builtin(1009, 'text'), // text[]
  1015: builtin(1015, 'text'), // varchar[]
};

export const jsonTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number) => PARSERS[oid] ?? identity) as pg.CustomTypesConfig['getTypeParser'],
};

/** Names of common type OIDs; others are looked up in pg_type (and cached by the caller). */
export const TYPE_NAMES: Record<number, string> = {
  16: 'boolean',
  17: 'bytea',
  18: 'char',
  19: 'name',
  20: 'bigint',
  21: 'smallint',
  23: 'integer',
  25: 'text',
  26: 'oid',
  114: 'json',
  700: 'real',
  701: 'double precision',
  1042: 'character',
  1043: 'character varying',
  1082: 'date',
  1083: 'time without time zone',
  1114: 'timestamp without time zone',
  1184: 'timestamp with time zone',
  1186: 'interval',
  1700: 'numeric',
  2950: 'uuid',
  3802: 'jsonb',
  1000: 'boolean[]',
  1005: 'smallint[]',
  1007: 'integer[]',
  1016: 'bigint[]',
  1009: 'text[]',
  1015: 'character varying[]',
  1231: 'numeric[]',
  2249: 'record',
  705: 'unknown',
};
