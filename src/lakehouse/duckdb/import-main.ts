import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { AppError } from '../../errors.js';
import { columnName, LoadError } from './load-input.js';
import { quoteIdent as quote, quoteLiteral as literal } from '../sql-quote.js';
import type { FromImport, ImportColumn, ImportRequest } from './import-protocol.js';

// An import process (started by src/lakehouse/duckdb/import.ts): converts one spooled upload (CSV, NDJSON or
// Parquet) into one Parquet file with a locked DuckDB that can touch only the upload's folder and the output's.
// Untrusted bytes are parsed here and nowhere else; the process holds no secrets (its environment is empty)
// and is killed by the serving process past its memory bound or when the import is cancelled.
//
// Errors carry the line as users count it (1-based, the CSV header is line 1, a quoted line break starts a new
// line): DuckDB's CSV reader counts records rather than lines, and its JSON reader's line numbers are not
// reliable, so the place DuckDB names is turned into a line by scanning the file here (on failure only).

const send = (message: FromImport) => process.send?.(message);

const MAX_COLUMNS = 1000;
const CSV_DIALECT = `header = true, delim = ',', quote = '"', escape = '"', strict_mode = true`;
/** CSV values are read as DuckDB's sniffer types them (from its sample); a later misfit widens the column. */
const WIDER: Record<string, string> = {
  TINYINT: 'BIGINT',
  SMALLINT: 'BIGINT',
  INTEGER: 'BIGINT',
  BIGINT: 'DOUBLE',
  HUGEINT: 'DOUBLE',
  FLOAT: 'DOUBLE',
  DATE: 'TIMESTAMP',
};
const NESTED = /^(STRUCT|MAP|UNION)\(|\[\d*\]$/;

/** A refusal about one place in the input (a line), or about the whole of it. */
const refuse = (message: string, line?: number) => new LoadError(message, line);

process.once('message', (request: ImportRequest) => {
  void run(request).then(
    (done) => {
      send({ type: 'done', ...done });
      process.disconnect?.();
    },
    (error: unknown) => {
      send(toMessage(error));
      process.disconnect?.();
    },
  );
});
// The serving process went away: so does the import.
process.on('disconnect', () => process.exit(0));

function toMessage(error: unknown): FromImport {
  if (error instanceof LoadError) return { type: 'error', code: error.code, message: stripLine(error.message), line: error.line };
  if (error instanceof AppError) return { type: 'error', code: error.code, message: error.message };
  const message = (error instanceof Error ? error.message : String(error)).slice(0, 2_000);
  if (/Out of Memory Error/i.test(message)) {
    return { type: 'error', code: 'out_of_memory', message: `The import ran out of memory: ${firstLine(message)}` };
  }
  if (/could not write|No space left|max_temp_directory_size/i.test(message)) {
    return { type: 'error', code: 'unavailable', message: `The import could not write its files: ${firstLine(message)}` };
  }
  return { type: 'error', code: 'invalid_load', message: firstLine(message) };
}

const stripLine = (message: string) => message.replace(/^line \d+: /, '');
const firstLine = (message: string) => message.split('\n')[0]?.trim() ?? message;

async function run(request: ImportRequest): Promise<{ rows: number; columns: ImportColumn[] }> {
  const instance = await DuckDBInstance.create(':memory:', {
    threads: String(request.threads),
    memory_limit: request.memoryLimit,
    temp_directory: request.tempDirectory,
    max_temp_directory_size: request.maxTempDirectorySize,
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  });
  const db = await instance.connect();
  // Only the upload's folder and the output's; no extension is ever installed or loaded (parquet, json and icu
  // are built in), no setting changes after this.
  const dirs = [path.dirname(request.input), path.dirname(request.output)].map((dir) => literal(`${dir}/`));
  await db.run(`SET allowed_directories = [${dirs.join(', ')}]`);
  await db.run("SET TimeZone = 'UTC'");
  await db.run('SET enable_external_access = false');
  await db.run('SET lock_configuration = true');
  const select =
    request.format === 'csv'
      ? await csvSelect(db, request)
      : request.format === 'ndjson'
        ? await ndjsonSelect(db, request)
        : await parquetSelect(db, request);
  let rows: number | undefined;
  while (rows === undefined) {
    try {
      const out = await db.runAndReadAll(`COPY (${select.sql}) TO ${literal(request.output)} (FORMAT parquet, COMPRESSION zstd)`);
      rows = Number(out.getRows()[0]?.[0] ?? 0);
    } catch (error) {
      if (!select.widen?.(error)) await select.explain(error);
    }
  }
  const described = await db.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${literal(request.output)})`);
  const columns = described.getRows().map(([name, type]) => ({ name: String(name), type: String(type) }));
  if (request.format === 'ndjson' && rows === 0) throw refuse('the NDJSON holds no object');
  return { rows, columns };
}

interface Select {
  readonly sql: string;
  /** After a failed COPY: whether the select changed (a column widened) and is worth running again. */
  widen?(error: unknown): boolean;
  /** Turns DuckDB's error of the COPY into a refusal naming the line; rethrows what it cannot place. */
  explain(error: unknown): Promise<never>;
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The select list for the table's columns, in its order: a column the input lacks is NULL. */
function appendList(existing: ImportColumn[], present: Map<string, string>): string {
  return existing
    .map((column) => {
      const source = present.get(column.name);
      return `${source === undefined ? 'NULL' : source}::${column.type} AS ${quote(column.name)}`;
    })
    .join(', ');
}

function checkColumns(table: string, names: string[], existing: ImportColumn[] | undefined, line?: number): void {
  if (names.length > MAX_COLUMNS) throw refuse(`more than ${MAX_COLUMNS} columns`, line);
  if (!existing) return;
  const known = new Set(existing.map((column) => column.name));
  const unknown = names.filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw refuse(
      `the table "${table}" has no column ${unknown.map((c) => `"${c}"`).join(', ')}; its columns: ${existing.map((c) => c.name).join(', ')}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// CSV

async function csvSelect(db: DuckDBConnection, request: ImportRequest): Promise<Select> {
  const raw = readCsvHeader(request.input);
  const names = raw.map((name) => columnName(name, 1));
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate) throw refuse(`the column "${duplicate}" appears twice in the header`, 1);
  checkColumns(request.table, names, request.existing, 1);
  const existing = new Map(request.existing?.map((column) => [column.name, column.type]));
  // A JSON column of the table is read as text and cast by the select.
  const readType = (type: string) => (type === 'JSON' ? 'VARCHAR' : type);
  let types: string[];
  let formats = '';
  if (request.existing) {
    types = names.map((name) => readType(existing.get(name) ?? 'VARCHAR'));
  } else {
    const sniffed = await sniffCsv(db, request.input, names.length);
    types = sniffed.types;
    formats = sniffed.formats;
  }
  const read = () =>
    `read_csv(${literal(request.input)}, ${CSV_DIALECT}, auto_detect = false${formats}, columns = {${names
      .map((name, i) => `${literal(name)}: ${literal(types[i] ?? 'VARCHAR')}`)
      .join(', ')}})`;
  return {
    get sql() {
      return request.existing
        ? `SELECT ${appendList(request.existing, new Map(names.map((name) => [name, quote(name)])))} FROM ${read()}`
        : `SELECT * FROM ${read()}`;
    },
    // A new table: when a value past DuckDB's sample does not fit the sniffed type of its column, that column
    // is widened (integers to DOUBLE, DATE to TIMESTAMP, anything else to VARCHAR) and the file read again.
    widen: (error) => {
      if (request.existing) return false;
      const conversion = CONVERSION.exec(messageOf(error));
      const i = names.indexOf(conversion?.[1] ?? '');
      const type = types[i];
      if (i === -1 || type === undefined || type === 'VARCHAR') return false;
      types[i] = WIDER[type] ?? 'VARCHAR';
      return true;
    },
    explain: async (error) => {
      const message = messageOf(error);
      const record = /CSV Error on Line: (\d+)/.exec(message);
      const line = record ? csvLineOfRecord(request.input, Number(record[1])) : undefined;
      const conversion = CONVERSION.exec(message);
      if (conversion) {
        const [, column = '', value = '', type = ''] = conversion;
        throw refuse(`"${value.slice(0, 100)}" is not a valid ${type} for column "${column}"`, line);
      }
      const counts = /Expected Number of Columns: (\d+) Found: (\d+)/.exec(message);
      if (counts) throw refuse(`the row has ${counts[2]} fields where the header has ${counts[1]}`, line);
      if (/Invalid unicode/i.test(message)) throw refuse('the input is not valid UTF-8 text; convert it to UTF-8 (e.g. with iconv)', line);
      if (record && /quote/i.test(message)) {
        throw refuse('a quoted value is not closed, or its closing quote is not followed by a comma or a line break', line);
      }
      if (record) throw refuse(csvReason(message), line);
      throw error;
    },
  };
}

const CONVERSION = /Error when converting column "([^"]+)"\. Could not convert string "([^"]*)" to '([^']+)'/;

/** DuckDB's types for the columns, from its sample of the file; all VARCHAR when it cannot tell. */
async function sniffCsv(db: DuckDBConnection, file: string, count: number): Promise<{ types: string[]; formats: string }> {
  try {
    const result = await db.runAndReadAll(
      `SELECT to_json(Columns)::VARCHAR, DateFormat, TimestampFormat FROM sniff_csv(${literal(file)}, ${CSV_DIALECT})`,
    );
    const [columns, dateFormat, timestampFormat] = result.getRows()[0] ?? [];
    const types = (JSON.parse(String(columns)) as { type: string }[]).map((c) => c.type);
    if (types.length !== count) throw new Error('the sniffer saw another header');
    let formats = '';
    if (typeof dateFormat === 'string' && dateFormat !== '') formats += `, dateformat = ${literal(dateFormat)}`;
    if (typeof timestampFormat === 'string' && timestampFormat !== '') formats += `, timestampformat = ${literal(timestampFormat)}`;
    return { types, formats };
  } catch {
    // The sniffer fails on a small file that is malformed: the read below says where.
    return { types: new Array<string>(count).fill('VARCHAR'), formats: '' };
  }
}

function csvReason(message: string): string {
  const lines = message.split('\n').map((l) => l.trim());
  const reason = lines.find((l, i) => i > 0 && l !== '' && !l.startsWith('Original Line')) ?? lines[0] ?? message;
  return reason.replace(/^Invalid Input Error: /, '');
}

/** The header record: its fields, parsed as RFC 4180 (a UTF-8 byte-order mark skipped). */
function readCsvHeader(file: string): string[] {
  const fd = fs.openSync(file, 'r');
  let bytes: Buffer;
  try {
    const buffer = Buffer.alloc(1024 * 1024);
    bytes = buffer.subarray(0, fs.readSync(fd, buffer, 0, buffer.length, 0));
  } finally {
    fs.closeSync(fd);
  }
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
  const fields: string[] = [];
  let field: number[] = [];
  let quoted = false;
  let i = 0;
  const decode = (chars: number[]) => {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(chars));
    } catch {
      throw refuse('the input is not valid UTF-8 text; convert it to UTF-8 (e.g. with iconv)', 1);
    }
  };
  for (; i < bytes.length; i++) {
    const b = bytes[i] ?? 0;
    if (quoted) {
      if (b !== 0x22) field.push(b);
      else if (bytes[i + 1] === 0x22) {
        field.push(b);
        i++;
      } else quoted = false;
    } else if (b === 0x22) quoted = true;
    else if (b === 0x2c) {
      fields.push(decode(field));
      field = [];
    } else if (b === 0x0a) break;
    else if (b !== 0x0d) field.push(b);
  }
  if (quoted) throw refuse('the header has a quoted name that is not closed', 1);
  if (i === bytes.length && bytes.length === 1024 * 1024) throw refuse('the header is longer than 1 MiB', 1);
  fields.push(decode(field));
  if (fields.length === 1 && fields[0] === '') throw refuse('the CSV is empty: it needs a header row naming the columns');
  return fields;
}

/**
 * The line (1-based) on which CSV record `record` starts, as DuckDB counts records (the header is record 1,
 * blank lines count, a quoted line break does not).
 */
function csvLineOfRecord(file: string, record: number): number {
  let line = 1;
  let current = 1;
  let quoted = false;
  const buffer = Buffer.alloc(1024 * 1024);
  const fd = fs.openSync(file, 'r');
  try {
    for (let read = fs.readSync(fd, buffer); read > 0; read = fs.readSync(fd, buffer)) {
      for (let i = 0; i < read; i++) {
        const b = buffer[i];
        if (b === 0x22) quoted = !quoted;
        else if (b === 0x0a) {
          line++;
          if (!quoted && ++current === record) return line;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return line;
}

// ---------------------------------------------------------------------------------------------------------
// NDJSON

async function ndjsonSelect(db: DuckDBConnection, request: ImportRequest): Promise<Select> {
  // The whole file is sampled: DuckDB leaves out a key first seen past its sample, silently.
  const source = (columns?: string) =>
    `read_json(${literal(request.input)}, format = 'newline_delimited', records = true, sample_size = -1, maximum_object_size = 67108864${columns ?? ''})`;
  let described: [string, string][];
  try {
    const result = await db.runAndReadAll(`DESCRIBE SELECT * FROM ${source()}`);
    described = result.getRows().map(([name, type]) => [String(name), String(type)]);
  } catch (error) {
    throw placeJsonError(request.input, error);
  }
  if (described.length === 1 && described[0]?.[0] === 'json') {
    // DuckDB's answer for a file without objects.
    if (!hasContent(request.input)) throw refuse('the NDJSON holds no object');
  }
  const names = new Map<string, string>();
  for (const [raw] of described) {
    const name = columnName(raw, firstLineWithKey(request.input, raw) ?? 1);
    const other = [...names.entries()].find(([, n]) => n === name);
    if (other) {
      throw refuse(`the key "${raw}" names the same column as another key ("${name}")`, firstLineWithKey(request.input, raw));
    }
    names.set(raw, name);
  }
  checkColumns(request.table, [...names.values()], request.existing);
  const existing = new Map(request.existing?.map((column) => [column.name, column.type]));
  // Nested values (objects, arrays, and keys whose values differ in kind) are kept as JSON.
  const types = described.map(([raw, type]) => {
    const target = request.existing ? (existing.get(names.get(raw) ?? '') ?? 'VARCHAR') : type;
    return NESTED.test(target) ? 'JSON' : target;
  });
  const columns = `, columns = {${described.map(([raw], i) => `${literal(raw)}: ${literal(types[i] ?? 'JSON')}`).join(', ')}}`;
  const list = request.existing
    ? appendList(request.existing, new Map(described.map(([raw]) => [names.get(raw) ?? raw, quote(raw)])))
    : described.map(([raw], i) => `${quote(raw)}${types[i] === 'JSON' ? '::JSON' : ''} AS ${quote(names.get(raw) ?? raw)}`).join(', ');
  return {
    sql: `SELECT ${list} FROM ${source(columns)}`,
    explain: async (error) => {
      const message = messageOf(error);
      const transform = /JSON transform error in file "[^"]*", in line (\d+): Failed to cast value to [a-z ]+: (.*)$/m.exec(message);
      if (transform) {
        const [, duckLine = '', value = ''] = transform;
        const place = findJsonValue(request.input, value, names);
        if (!place) throw refuse(`${value.slice(0, 100)} does not fit the type of its column`, Number(duckLine));
        const type = existing.get(place.column) ?? types[described.findIndex(([raw]) => names.get(raw) === place.column)];
        throw refuse(`${value.slice(0, 100)} is not a valid ${type ?? 'value'} for column "${place.column}"`, place.line);
      }
      throw placeJsonError(request.input, error);
    },
  };
}

function hasContent(file: string): boolean {
  let found = false;
  forEachLine(file, (text) => {
    if (text === undefined || text.trim() !== '') found = true;
    return found;
  });
  return found;
}

/** Calls `visit` with each line's bytes as text (undefined when not UTF-8) and its number, until it answers true. */
function forEachLine(file: string, visit: (text: string | undefined, line: number) => boolean | void): void {
  const fd = fs.openSync(file, 'r');
  const buffer = Buffer.alloc(1024 * 1024);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let rest: Buffer = Buffer.alloc(0);
  let line = 0;
  const one = (bytes: Buffer) => {
    line++;
    let text: string | undefined;
    try {
      text = decoder.decode(bytes[bytes.length - 1] === 0x0d ? bytes.subarray(0, -1) : bytes);
    } catch {
      text = undefined;
    }
    return visit(text, line) === true;
  };
  try {
    for (let read = fs.readSync(fd, buffer); read > 0; read = fs.readSync(fd, buffer)) {
      const chunk = Buffer.concat([rest, buffer.subarray(0, read)]);
      let start = 0;
      for (let end = chunk.indexOf(10); end !== -1; end = chunk.indexOf(10, start)) {
        if (one(chunk.subarray(start, end))) return;
        start = end + 1;
      }
      rest = Buffer.from(chunk.subarray(start));
    }
    if (rest.length > 0) one(rest);
  } finally {
    fs.closeSync(fd);
  }
}

/** The first malformed line of an NDJSON file, as the PostgreSQL loader words it; DuckDB's message otherwise. */
function placeJsonError(file: string, error: unknown): Error {
  let found: LoadError | undefined;
  forEachLine(file, (text, line) => {
    if (text === undefined) {
      found = refuse('the input is not valid UTF-8 text; convert it to UTF-8 (e.g. with iconv)', line);
      return true;
    }
    if (text.trim() === '') return false;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (parseError) {
      found = refuse(`not valid JSON (${messageOf(parseError)})`, line);
      return true;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      found = refuse('each line must be a JSON object', line);
      return true;
    }
    return false;
  });
  return found ?? refuse(firstLine(messageOf(error)).replace(/^Invalid Input Error: /, ''));
}

function firstLineWithKey(file: string, key: string): number | undefined {
  let found: number | undefined;
  forEachLine(file, (text, line) => {
    if (text === undefined || text.trim() === '') return false;
    const value = JSON.parse(text) as Record<string, unknown>;
    if (Object.hasOwn(value, key)) found = line;
    return found !== undefined;
  });
  return found;
}

/** The first line and column holding `value` (as DuckDB printed it: JSON text). */
function findJsonValue(file: string, value: string, names: Map<string, string>): { line: number; column: string } | undefined {
  let found: { line: number; column: string } | undefined;
  forEachLine(file, (text, line) => {
    if (text === undefined || text.trim() === '') return false;
    const object = JSON.parse(text) as Record<string, unknown>;
    for (const [key, v] of Object.entries(object)) {
      if (JSON.stringify(v) === value) {
        found = { line, column: names.get(key) ?? key };
        return true;
      }
    }
    return false;
  });
  return found;
}

// ---------------------------------------------------------------------------------------------------------
// Parquet

async function parquetSelect(db: DuckDBConnection, request: ImportRequest): Promise<Select> {
  const source = `read_parquet(${literal(request.input)})`;
  let described: [string, string][];
  try {
    const result = await db.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`);
    described = result.getRows().map(([name, type]) => [String(name), String(type)]);
  } catch (error) {
    throw refuse(`not a Parquet file DuckDB can read: ${firstLine(messageOf(error)).replace(/^[A-Za-z ]+Error: /, '')}`);
  }
  const names = described.map(([raw]) => {
    try {
      return columnName(raw, 0);
    } catch (error) {
      throw refuse(stripLine(messageOf(error)));
    }
  });
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate) throw refuse(`the column "${duplicate}" appears twice`);
  checkColumns(request.table, names, request.existing);
  const list = request.existing
    ? appendList(request.existing, new Map(described.map(([raw], i) => [names[i] ?? raw, quote(raw)])))
    : described.map(([raw, type], i) => `${quote(raw)}${NESTED.test(type) ? '::JSON' : ''} AS ${quote(names[i] ?? raw)}`).join(', ');
  return {
    sql: `SELECT ${list} FROM ${source}`,
    explain: async (error) => {
      const message = firstLine(messageOf(error)).replace(/^[A-Za-z ]+Error: /, '');
      throw refuse(`a value does not fit the table "${request.table}": ${message}`);
    },
  };
}
