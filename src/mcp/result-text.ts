/**
 * The text block of a successful tool result: a compact rendering of the output for the model, next to the
 * same output as JSON in `structuredContent`. Clients put the text into the model's context, so it is not a
 * second copy of the JSON: scalars as `key: value` lines, result rows and lists of flat records as CSV (column
 * types once, in the header), multi-line strings as indented blocks, and the whole at most
 * `TEXT_LIMIT_BYTES`, saying plainly what it left out.
 */

/** The most text one result puts into a context window (16 KiB). */
export const TEXT_LIMIT_BYTES = 16 * 1024;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Record_ = { [key: string]: Json };

const isRecord = (v: unknown): v is Record_ => typeof v === 'object' && v !== null && !Array.isArray(v);
const isScalar = (v: unknown) => v === null || typeof v !== 'object';
/** A value that fits on its `key: value` line (a multi-line string gets a block of its own). */
const isInline = (v: unknown) => isScalar(v) && !(typeof v === 'string' && v.includes('\n'));
const utf8Bytes = (s: string) => Buffer.byteLength(s, 'utf8');

export function resultText(output: unknown, limitBytes = TEXT_LIMIT_BYTES): string {
  const text = new BoundedText(limitBytes);
  if (isRecord(output)) renderRecord(text, output, '');
  else text.line(isScalar(output) ? scalarText(output as Json) : JSON.stringify(output));
  return text.toString();
}

/** Lines up to a byte budget; past it, lines are counted instead of kept. */
class BoundedText {
  private readonly lines: string[] = [];
  private bytes = 0;
  private droppedLines = 0;

  constructor(private readonly limit: number) {}

  /** Keeps the line if it fits (reserving room for the closing note); false once the budget is spent. */
  line(line: string): boolean {
    const size = utf8Bytes(line) + 1;
    if (this.droppedLines === 0 && this.bytes + size <= this.limit - 200) {
      this.lines.push(line);
      this.bytes += size;
      return true;
    }
    this.droppedLines += 1;
    return false;
  }

  /** Notes `count` more lines left out without rendering them. */
  skip(count: number) {
    this.droppedLines += count;
  }

  get full() {
    return this.droppedLines > 0;
  }

  toString() {
    if (this.droppedLines === 0) return this.lines.join('\n');
    const note =
      `[${this.droppedLines} more line(s) not shown: this text stops at ${Math.round(this.limit / 1024)} KiB. ` +
      'The structured result has everything; to see more here, select fewer columns, lower `limit` or page with `offset`.]';
    return [...this.lines, note].join('\n');
  }
}

/** Scalars first (counts, flags, next offsets), then nested values, so that a long table never hides them. */
function renderRecord(text: BoundedText, record: Record_, indent: string) {
  const entries = Object.entries(record).filter(([key]) => !(key === 'columns' && isTable(record)));
  for (const [key, value] of entries) if (isInline(value)) text.line(`${indent}${key}: ${scalarText(value)}`);
  if (record.truncated === true) {
    const next = typeof record.next_offset === 'number' ? `; continue with offset: ${record.next_offset}` : '';
    // The query tools write every row to a file on request (their `export`), linked in the answer.
    const all = 'export' in record ? '' : '; every row: call again with export: "csv" (or "parquet")';
    text.line(`${indent}note: more rows exist than shown${next}${all}`);
  }
  for (const [key, value] of entries) {
    if (isInline(value)) continue;
    if (key === 'rows' && isTable(record)) renderRows(text, record.columns as unknown as Column[], value as Json[][], indent);
    else renderValue(text, key, value, indent);
  }
}

function renderValue(text: BoundedText, key: string, value: Json, indent: string) {
  if (typeof value === 'string' && value.includes('\n')) {
    text.line(`${indent}${key}: |`);
    for (const line of value.split('\n')) text.line(`${indent}  ${line}`);
  } else if (isScalar(value)) {
    text.line(`${indent}${key}: ${scalarText(value)}`);
  } else if (Array.isArray(value)) {
    if (value.length === 0) text.line(`${indent}${key}: []`);
    else if (value.every(isScalar)) text.line(`${indent}${key}: ${JSON.stringify(value)}`);
    else if (value.every((item) => isRecord(item) && Object.values(item).every(isScalar))) {
      renderRecords(text, key, value as Record_[], indent);
    } else {
      text.line(`${indent}${key}: (${value.length})`);
      value.forEach((item, i) => renderValue(text, `- [${i}]`, item, `${indent}  `));
    }
  } else {
    text.line(`${indent}${key}:`);
    renderRecord(text, value as Record_, `${indent}  `);
  }
}

interface Column {
  name: string;
  type?: string;
}

/** A result set as the query tools answer it: `columns` ({name, type}) and `rows` (arrays in column order). */
function isTable(record: Record_): boolean {
  const { columns, rows } = record;
  return (
    Array.isArray(columns) &&
    Array.isArray(rows) &&
    columns.every((c) => isRecord(c) && typeof c.name === 'string') &&
    rows.every((r) => Array.isArray(r))
  );
}

function renderRows(text: BoundedText, columns: Column[], rows: Json[][], indent: string) {
  text.line(`${indent}rows (CSV, ${rows.length}):`);
  text.line(indent + columns.map((c) => csvField(c.type ? `${c.name} ${c.type}` : c.name)).join(','));
  writeCsvLines(
    text,
    rows.map((row) => row.map(csvValue).join(',')),
    indent,
  );
}

/** A list of flat records (list_* results) as CSV with the union of their keys as header. */
function renderRecords(text: BoundedText, key: string, records: Record_[], indent: string) {
  const keys = [...new Set(records.flatMap((r) => Object.keys(r)))];
  text.line(`${indent}${key} (CSV, ${records.length}):`);
  text.line(indent + keys.map(csvField).join(','));
  writeCsvLines(
    text,
    records.map((r) => keys.map((k) => (k in r ? csvValue(r[k] as Json) : '')).join(',')),
    indent,
  );
}

function writeCsvLines(text: BoundedText, lines: string[], indent: string) {
  for (let i = 0; i < lines.length; i++) {
    if (!text.line(indent + lines[i])) {
      text.skip(lines.length - i - 1);
      return;
    }
  }
}

function scalarText(value: Json): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return value === '' ? '""' : value.replace(/\n/g, '\\n');
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** CSV per RFC 4180; null is an empty field, the empty string `""`; nested values as JSON. */
function csvValue(value: Json): string {
  if (value === null) return '';
  if (typeof value === 'string') return value === '' ? '""' : csvField(value);
  if (typeof value === 'object') return csvField(JSON.stringify(value));
  return String(value);
}

function csvField(text: string): string {
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}
