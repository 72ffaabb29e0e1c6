import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parse as parseCsv, CsvError } from 'csv-parse';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { AppError } from '../errors.js';
import { columnName, LoadError } from './column-name.js';
import { environmentSchema } from './provision.js';
import { quoteIdent } from './sql-quote.js';
import type { Lakehouse } from './sandbox.js';

// Loading rows into an environment's own schema (the `lakehouse` connection), from CSV (a header row, then
// records) or NDJSON (one JSON object per line). Loads run as the application's role, never the sandbox's:
// the environment's query role gets SELECT on the result and nothing else.
//
// One load is one transaction, so it lands whole or not at all:
//  1. the body streams (UTF-8 checked, parsed with csv-parse or line by line) into a temporary staging table
//     through COPY FROM STDIN (pg-copy-streams), each row with its line number in the input;
//  2. a new table gets the types that fit every value (boolean, bigint, numeric, date, timestamptz, jsonb for
//     nested JSON, else text), decided in SQL over all the rows; an existing table's columns are checked, and
//     the first value that does not fit its column is reported with its line;
//  3. one INSERT … SELECT moves the rows, cast, into the table; COMMIT.
// Anything malformed (ragged rows, bad encoding, bad JSON, a value of the wrong type) is refused with its line
// number and the transaction is dropped: nothing is half-loaded.

// Shared with the DuckDB importer (src/lakehouse/duckdb/import.ts), whose child process should not load pg.
export { columnName, LoadError };

export type LoadFormat = 'csv' | 'ndjson';

export const TABLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const MAX_COLUMNS = 1000;

export interface LoadOptions {
  format: LoadFormat;
  /** Refuse a body larger than this (bytes). */
  maxBytes: number;
  /** Called as the input is read (bytes so far, rows so far), at most every 64 KiB. */
  onProgress?: (bytes: number, rows: number) => void;
  signal?: AbortSignal;
}

export interface LoadResult {
  table: string;
  created: boolean;
  rows: number;
  columns: { name: string; type: string }[];
  elapsed_ms: number;
}

/** Checks UTF-8 as bytes stream through, counting lines, so a bad byte is reported with its line. */
class Utf8Check extends Transform {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private bytes = 0;
  private lines = 1;
  private reported = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly progress: ((bytes: number) => void) | undefined,
  ) {
    super({ readableObjectMode: false, decodeStrings: true });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      callback(
        new LoadError(
          `the body is larger than the limit of ${this.maxBytes} bytes; split it into several loads`,
          undefined,
          'payload_too_large',
        ),
      );
      return;
    }
    let text: string;
    try {
      text = this.decoder.decode(chunk, { stream: true });
    } catch {
      callback(
        new LoadError(
          'the input is not valid UTF-8 text; convert it to UTF-8 (e.g. with iconv)',
          this.lines + countNewlines(chunk, invalidUtf8Offset(chunk)),
        ),
      );
      return;
    }
    this.lines += countNewlines(chunk, chunk.length);
    if (this.progress && this.bytes - this.reported >= 65_536) {
      this.reported = this.bytes;
      this.progress(this.bytes);
    }
    callback(null, text);
  }

  override _flush(callback: TransformCallback): void {
    try {
      const rest = this.decoder.decode();
      this.progress?.(this.bytes);
      callback(null, rest);
    } catch {
      callback(new LoadError('the input ends inside a UTF-8 character', this.lines));
    }
  }
}

function countNewlines(chunk: Buffer, end: number): number {
  let n = 0;
  for (let i = chunk.indexOf(10); i !== -1 && i < end; i = chunk.indexOf(10, i + 1)) n++;
  return n;
}

/** Where the first invalid UTF-8 sequence of a chunk starts (approximate for one split across chunks). */
function invalidUtf8Offset(chunk: Buffer): number {
  for (let i = 0; i < chunk.length;) {
    const b = chunk[i] ?? 0;
    const size = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (size === 0) return i;
    if (i + size > chunk.length) return i;
    for (let k = 1; k < size; k++) if (((chunk[i + k] ?? 0) & 0xc0) !== 0x80) return i;
    i += size;
  }
  return chunk.length;
}

/** COPY text format: backslash, tab, newline and carriage return escaped; NULL as \N. */
function copyField(value: string | null): string {
  if (value === null) return '\\N';
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

/**
 * What the values of each column look like, seen as they stream past (a JS regex per value is far cheaper
 * than one in SQL per value). Dates and timestamps that look right are confirmed by PostgreSQL afterwards.
 */
class Profile {
  readonly present: number[] = [];
  private readonly flags: number[] = [];

  static readonly BOOL = 1;
  static readonly INT = 2;
  static readonly NUM = 4;
  static readonly DATE = 8;
  static readonly TS = 16;
  static readonly NESTED = 32;
  private static readonly ALL = 31;

  observe(i: number, value: string): void {
    let f = this.flags[i] ?? Profile.ALL;
    this.present[i] = (this.present[i] ?? 0) + 1;
    if (f & Profile.BOOL && !BOOL_RE.test(value)) f &= ~Profile.BOOL;
    if (f & Profile.INT && !INT_RE.test(value)) f &= ~Profile.INT;
    if (f & Profile.NUM && !NUM_RE.test(value)) f &= ~Profile.NUM;
    if (f & Profile.DATE && !DATE_RE.test(value)) f &= ~Profile.DATE;
    if (f & Profile.TS && !TS_RE.test(value)) f &= ~Profile.TS;
    this.flags[i] = f;
  }

  nested(i: number): void {
    this.flags[i] = (this.flags[i] ?? Profile.ALL) | Profile.NESTED;
    this.present[i] = (this.present[i] ?? 0) + 1;
  }

  has(i: number, flag: number): boolean {
    return ((this.flags[i] ?? Profile.ALL) & flag) !== 0;
  }
}

const BOOL_RE = /^(true|false)$/i;
const INT_RE = /^[-+]?[0-9]{1,18}$/;
const NUM_RE = /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,3})?$/;
const DATE_RE = /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/;
const TS_RE = /^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}/;
const NEEDS_ESCAPE = /[\\\t\n\r]/;

interface Staged {
  /** Column names, in input order. */
  columns: string[];
  /** SQL reading column i of the staging table `s` as text. */
  text(i: number): string;
  /** SQL reading column i as jsonb (NDJSON only: nested values). */
  json?(i: number): string;
  rows: number;
  profile: Profile;
}

/** CSV: the header names the columns; records must have as many fields; an empty field is NULL. */
async function stageCsv(client: pg.Client, input: Readable, utf8: Utf8Check, count: (rows: number) => void): Promise<Staged> {
  // No `info` option: it costs csv-parse three times its speed; lines are counted here instead (a record ends
  // one line after the last, plus the line breaks inside its quoted fields). Blank lines are skipped.
  const parser = parseCsv({ bom: true, relax_quotes: false, relax_column_count: true });
  const profile = new Profile();
  let line = 0;
  let columns: string[] | undefined;
  let rows = 0;
  let copy: NodeJS.WritableStream | undefined;
  let batch = '';
  const toCopy = new Transform({
    writableObjectMode: true,
    transform(record: string[], _encoding, callback) {
      line++;
      for (const field of record) if (field.includes('\n')) line += field.split('\n').length - 1;
      if (record.length === 1 && record[0] === '' && (columns === undefined || columns.length > 1)) return callback();
      if (!columns) {
        columns = record.map((name) => columnName(name, line));
        const duplicate = columns.find((c, i) => columns!.indexOf(c) !== i);
        if (duplicate) return callback(new LoadError(`the column "${duplicate}" appears twice in the header`, line));
        if (columns.length > MAX_COLUMNS) return callback(new LoadError(`more than ${MAX_COLUMNS} columns`, line));
        const defs = columns.map((_, i) => `c${i} text`).join(', ');
        client
          .query(`CREATE TEMP TABLE load_staging (line bigint NOT NULL, ${defs}) ON COMMIT DROP`)
          .then(() => {
            copy = client.query(copyFrom('COPY load_staging FROM STDIN'));
            copy.on('error', (error: Error) => toCopy.destroy(error));
            toCopy.pipe(copy);
            callback();
          })
          .catch(callback);
        return;
      }
      rows++;
      if ((rows & 0x3fff) === 0) count(rows);
      if (record.length !== columns.length) {
        return callback(new LoadError(`the row has ${record.length} fields where the header has ${columns.length}`, line));
      }
      let out = String(line);
      for (let i = 0; i < record.length; i++) {
        const value = record[i] ?? '';
        if (value === '') out += '\t\\N';
        else {
          profile.observe(i, value);
          out += '\t' + copyField(value);
        }
      }
      // Rows leave in batches of about 256 KiB: one CopyData message per row would cost more than the rows.
      batch += out + '\n';
      if (batch.length >= 262_144) {
        const out = batch;
        batch = '';
        callback(null, out);
      } else {
        callback();
      }
    },
    flush(callback) {
      callback(null, batch === '' ? undefined : batch);
    },
  });
  const finished = new Promise<void>((resolve, reject) => {
    toCopy.on('error', reject);
    toCopy.on('end', () => {
      if (!copy) resolve();
      else copy.on('finish', () => resolve());
    });
  });
  // Awaited only once the pipeline has run; a failure of the pipeline is reported by it instead.
  finished.catch(() => undefined);
  try {
    await pipeline(input, utf8, parser, toCopy);
    await finished;
  } catch (error) {
    if (error instanceof CsvError) {
      const line = (error as CsvError & { lines?: number }).lines;
      const counts = /expect (\d+), got (\d+)/.exec(error.message);
      const message = counts
        ? `the row has ${counts[2]} fields where the header has ${counts[1]}`
        : error.message.replace(/ (at|on) line \d+\.?$/, '');
      throw new LoadError(message, line);
    }
    throw error;
  }
  if (!columns) throw new LoadError('the CSV is empty: it needs a header row naming the columns');
  count(rows);
  return { columns, text: (i) => `s.c${i}`, rows, profile };
}

/** NDJSON: one JSON object per line; its keys are the columns (the union over all lines); null or missing is NULL. */
async function stageNdjson(client: pg.Client, input: Readable, utf8: Utf8Check, count: (rows: number) => void): Promise<Staged> {
  await client.query('CREATE TEMP TABLE load_staging (line bigint NOT NULL, doc jsonb NOT NULL) ON COMMIT DROP');
  const profile = new Profile();
  const index = new Map<string, number>();
  const copy = client.query(copyFrom('COPY load_staging FROM STDIN'));
  const keys = new Map<string, string>();
  let line = 0;
  let rows = 0;
  let rest = '';
  const toRows = (text: string, push: (row: string) => void) => {
    const parts = (rest + text).split('\n');
    rest = parts.pop() ?? '';
    for (const part of parts) push(stageLine(part));
  };
  const stageLine = (raw: string): string => {
    line++;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim() === '') return '';
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new LoadError(`not valid JSON (${error instanceof Error ? error.message : String(error)})`, line);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new LoadError('each line must be a JSON object', line);
    const renamed: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      let name = keys.get(key);
      if (name === undefined) {
        name = columnName(key, line);
        if ([...keys.values()].includes(name))
          throw new LoadError(`the key "${key}" names the same column as another key ("${name}")`, line);
        if (keys.size >= MAX_COLUMNS) throw new LoadError(`more than ${MAX_COLUMNS} distinct keys`, line);
        keys.set(key, name);
        index.set(name, index.size);
      }
      renamed[name] = v;
      const i = index.get(name) ?? 0;
      if (v === null) continue;
      if (typeof v === 'object') profile.nested(i);
      else profile.observe(i, String(v));
    }
    rows++;
    if ((rows & 0x3fff) === 0) count(rows);
    return `${line}\t${copyField(JSON.stringify(renamed))}\n`;
  };
  const splitter = new Transform({
    transform(chunk: Buffer | string, _encoding, callback) {
      try {
        let out = '';
        toRows(chunk.toString(), (row) => (out += row));
        callback(null, out);
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback) {
      try {
        const last = rest;
        rest = '';
        callback(null, last === '' ? '' : stageLine(last));
      } catch (error) {
        callback(error as Error);
      }
    },
  });
  await pipeline(input, utf8, splitter, copy);
  if (rows === 0) throw new LoadError('the NDJSON holds no object');
  count(rows);
  const columns = [...keys.values()];
  return {
    columns,
    text: (i) => `(s.doc->>${quoteLiteralSafe(columns[i] ?? '')})`,
    json: (i) => `(s.doc->${quoteLiteralSafe(columns[i] ?? '')})`,
    rows,
    profile,
  };
}

/** Column names are [a-z0-9_] only (columnName), so a literal of one needs no escaping beyond this. */
const quoteLiteralSafe = (name: string) => `'${name.replace(/'/g, "''")}'`;

/**
 * The narrowest type that takes every value of each column: from the profile, with dates and timestamps
 * confirmed by PostgreSQL's own input functions (one pass over those columns only; a failure means text).
 */
async function inferTypes(client: pg.Client, staged: Staged): Promise<string[]> {
  const { profile } = staged;
  const types = staged.columns.map((_, i) => {
    if (profile.has(i, Profile.NESTED)) return 'jsonb';
    if (!profile.present[i]) return 'text';
    if (profile.has(i, Profile.BOOL)) return 'boolean';
    if (profile.has(i, Profile.INT)) return 'bigint';
    if (profile.has(i, Profile.NUM)) return 'numeric';
    if (profile.has(i, Profile.DATE)) return 'date';
    if (profile.has(i, Profile.TS)) return 'timestamp with time zone';
    return 'text';
  });
  const temporal = types.flatMap((type, i) => (type === 'date' || type === 'timestamp with time zone' ? [i] : []));
  if (temporal.length > 0) {
    const checks = temporal.map(
      (i) => `coalesce(bool_and(pg_input_is_valid(${staged.text(i)}, ${quoteLiteralSafe(types[i] ?? 'text')})), true) AS v${i}`,
    );
    const result = await client.query<Record<string, boolean>>(`SELECT ${checks.join(', ')} FROM load_staging s`);
    for (const i of temporal) if (result.rows[0]?.[`v${i}`] === false) types[i] = 'text';
  }
  return types;
}

/** Loads `input` into `table` of the environment's schema; all rows or none. */
export async function loadTable(
  lakehouse: Lakehouse,
  environmentId: string,
  table: string,
  input: Readable,
  options: LoadOptions,
): Promise<LoadResult> {
  const started = performance.now();
  if (!TABLE_NAME.test(table)) {
    throw new LoadError(`invalid table name "${table}": use lowercase letters, digits and _, starting with a letter or _ (at most 63)`);
  }
  await lakehouse.ensureEnvironment(environmentId);
  const role = lakehouse.roleName(environmentId);
  const schema = environmentSchema(environmentId);
  const target = `${quoteIdent(schema)}.${quoteIdent(table)}`;
  let rows = 0;
  let bytes = 0;
  const progress = () => options.onProgress?.(bytes, rows);
  const utf8 = new Utf8Check(options.maxBytes, (b) => {
    bytes = b;
    progress();
  });
  const count = (n: number) => {
    rows = n;
  };

  const client = new pg.Client({ connectionString: lakehouse.options.appUrl, application_name: 'lakehouse-mcp load' });
  client.on('error', () => undefined);
  await client.connect();
  const abort = () => void client.end().catch(() => undefined);
  options.signal?.addEventListener('abort', abort, { once: true });
  let committed = false;
  try {
    await client.query(`BEGIN; SET LOCAL lock_timeout = 10000; SET LOCAL TimeZone = 'UTC'`);
    // Loads into one table take turns: the second sees the table the first created.
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`lakehouse-load:${schema}.${table}`]);
    const staged = options.format === 'csv' ? await stageCsv(client, input, utf8, count) : await stageNdjson(client, input, utf8, count);
    options.signal?.throwIfAborted();

    const existing = await client.query<{ name: string; type: string }>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      [target],
    );
    const created = existing.rows.length === 0;
    let types: string[];
    if (created) {
      types = await inferTypes(client, staged);
      const defs = staged.columns.map((c, i) => `${quoteIdent(c)} ${types[i] ?? 'text'}`).join(', ');
      await client.query(`CREATE TABLE ${target} (${defs})`);
    } else {
      const byName = new Map(existing.rows.map((r) => [r.name, r.type]));
      const unknown = staged.columns.filter((c) => !byName.has(c));
      if (unknown.length > 0) {
        throw new LoadError(
          `the table "${table}" has no column ${unknown.map((c) => `"${c}"`).join(', ')}; its columns: ${existing.rows.map((r) => r.name).join(', ')}`,
        );
      }
      types = staged.columns.map((c) => byName.get(c) ?? 'text');
      // The first value that does not fit its column, in input order.
      for (const [i, type] of types.entries()) {
        if (type === 'text' || type === 'character varying') continue;
        const value = type === 'jsonb' || type === 'json' ? (staged.json?.(i) ?? staged.text(i)) : staged.text(i);
        const test =
          type === 'jsonb' || type === 'json'
            ? staged.json
              ? 'true'
              : `pg_input_is_valid(${value}, 'jsonb')`
            : `pg_input_is_valid(${value}, ${quoteLiteralSafe(type)})`;
        const bad = await client.query<{ line: string; value: string }>(
          `SELECT s.line::text AS line, ${staged.text(i)} AS value FROM load_staging s WHERE ${staged.text(i)} IS NOT NULL AND NOT ${test} ORDER BY s.line LIMIT 1`,
        );
        const first = bad.rows[0];
        if (first)
          throw new LoadError(
            `"${first.value.slice(0, 100)}" is not a valid ${type} for column "${staged.columns[i]}"`,
            Number(first.line),
          );
      }
    }
    const values = staged.columns.map((_, i) => {
      const type = types[i] ?? 'text';
      if ((type === 'jsonb' || type === 'json') && staged.json) return `${staged.json(i)}::${type}`;
      if (type === 'boolean') return `lower(${staged.text(i)})::boolean`;
      return `${staged.text(i)}::${type}`;
    });
    await client.query(
      `INSERT INTO ${target} (${staged.columns.map(quoteIdent).join(', ')}) SELECT ${values.join(', ')} FROM load_staging s ORDER BY s.line`,
    );
    // Default privileges grant it too; said again for tables made before them, or by another role.
    await client.query(`GRANT SELECT ON ${target} TO ${quoteIdent(role)}`);
    if (created) await client.query(`ANALYZE ${target}`);
    await client.query('COMMIT');
    committed = true;
    const columns = created ? staged.columns.map((name, i) => ({ name, type: types[i] ?? 'text' })) : existing.rows;
    progress();
    return { table, created, rows: staged.rows, columns, elapsed_ms: Math.round(performance.now() - started) };
  } catch (error) {
    if (options.signal?.aborted) throw new AppError('cancelled', 'The load was cancelled; nothing was loaded.');
    const pgError = error as { code?: string; message?: string; where?: string };
    if (!(error instanceof AppError) && typeof pgError.code === 'string' && /^[0-9A-Z]{5}$/.test(pgError.code)) {
      throw new LoadError(`the load failed in PostgreSQL and nothing was loaded: ${pgError.message ?? pgError.code}`);
    }
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', abort);
    // A failed load's connection may be mid-COPY: closing it rolls the transaction back.
    if (committed) await client.end();
    else await client.end().catch(() => undefined);
  }
}
