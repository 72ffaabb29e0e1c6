import fs from 'node:fs';
import type { ToolIO } from '../generated/handlers.js';
import { formatBytes } from '../lakehouse/format-bytes.js';
import { RESULT_MIME_TYPES } from '../lakehouse/results/store.js';
import { exportUrl } from '../operations/exports.js';
import { httpError } from './http-reply.js';
import { transportErrorCode } from './modern.js';
import { quoteIdent } from '../lakehouse/sql-quote.js';
import { invalidParams, runTool, type FeatureCall, FeatureError } from './feature-call.js';
import { ErrorCode } from './protocol.js';

// MCP resources: the environment's tables, semantic models, insights and dashboards under `lakehouse://`.
// Every read goes through the tool it stands for (feature-call.ts), so it sees only the token's environment
// and needs the `read` scope.

export const TEMPLATES = {
  table: 'lakehouse://tables/{connection}/{table}',
  semanticModel: 'lakehouse://semantic-models/{name}',
  insight: 'lakehouse://insights/{id}',
  dashboard: 'lakehouse://dashboards/{id}',
  export: 'lakehouse://exports/{id}',
} as const;

/**
 * The largest exported result resources/read returns inline (text for CSV, base64 for Parquet): a bigger one
 * would be a huge JSON-RPC message held in memory, so it answers where to download it instead.
 */
export const INLINE_EXPORT_BYTES = 1024 * 1024;

/** resources/templates/list: the same for everyone. */
export const RESOURCE_TEMPLATES = [
  {
    uriTemplate: TEMPLATES.table,
    name: 'table',
    title: 'Table',
    description: 'A table: columns with types and comments, row count, 5 sample rows.',
    mimeType: 'text/markdown',
  },
  {
    uriTemplate: TEMPLATES.semanticModel,
    name: 'semantic-model',
    title: 'Semantic model',
    description: 'A semantic model (dimensions, measures, joins) as get_semantic_model returns it.',
    mimeType: 'application/json',
  },
  {
    uriTemplate: TEMPLATES.insight,
    name: 'insight',
    title: 'Insight',
    description: 'A saved insight (SQL, parameters, chart) as view_insight returns it.',
    mimeType: 'application/json',
  },
  {
    uriTemplate: TEMPLATES.dashboard,
    name: 'dashboard',
    title: 'Dashboard',
    description: 'A dashboard and its widgets as view_dashboard returns it (without data).',
    mimeType: 'application/json',
  },
  {
    uriTemplate: TEMPLATES.export,
    name: 'export',
    title: 'Exported result',
    description: `A full query result (a query tool's \`export\`), inline up to ${INLINE_EXPORT_BYTES / 1024 / 1024} MiB; larger ones give their download URL.`,
  },
];

/** The built-in connections, whose tables resources/list names (external databases only by template). */
const LISTED_CONNECTIONS = ['lakehouse', 'sample'] as const;
/** Newest insights and dashboards listed (the tools' page limit); older ones are reached by template. */
const LISTED_ASSETS = 100;
export const PAGE_SIZE = 100;
const SAMPLE_ROWS = 5;
/** A cell of a sample row is cut to this many characters: the resource is context for a model, not an export. */
const CELL_CHARS = 80;
const MAX_URI_CHARS = 2048;

export type ResourceRef =
  | { kind: 'table'; connection: string; table: string }
  | { kind: 'semanticModel'; name: string }
  | { kind: 'insight'; id: string }
  | { kind: 'dashboard'; id: string }
  | { kind: 'export'; id: string };

const enc = encodeURIComponent;

export function uriOf(ref: ResourceRef): string {
  switch (ref.kind) {
    case 'table':
      return `lakehouse://tables/${enc(ref.connection)}/${enc(ref.table)}`;
    case 'semanticModel':
      return `lakehouse://semantic-models/${enc(ref.name)}`;
    case 'insight':
      return `lakehouse://insights/${enc(ref.id)}`;
    case 'dashboard':
      return `lakehouse://dashboards/${enc(ref.id)}`;
    case 'export':
      return `lakehouse://exports/${enc(ref.id)}`;
  }
}

const decode = (part: string): string | undefined => {
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
};

/** The resource a URI names, or undefined when it matches no template (each part one non-empty segment). */
export function parseUri(uri: string): ResourceRef | undefined {
  const match = /^lakehouse:\/\/(tables|semantic-models|insights|dashboards|exports)\/([^/?#]+)(?:\/([^/?#]+))?$/.exec(uri);
  if (!match) return undefined;
  const [, kind, first = '', second] = match;
  const a = decode(first);
  const b = second === undefined ? undefined : decode(second);
  if (a === undefined || (second !== undefined && b === undefined)) return undefined;
  if (kind === 'tables') return b === undefined ? undefined : { kind: 'table', connection: a, table: b };
  if (b !== undefined) return undefined;
  if (kind === 'semantic-models') return { kind: 'semanticModel', name: a };
  if (kind === 'exports') return { kind: 'export', id: a };
  return kind === 'insights' ? { kind: 'insight', id: a } : { kind: 'dashboard', id: a };
}

interface ListedResource {
  uri: string;
  name: string;
  title?: string;
  description?: string;
  mimeType: string;
}

/** Everything resources/list names, in a stable order: tables, semantic models, insights, dashboards. */
async function allResources(call: FeatureCall): Promise<ListedResource[]> {
  // One after the other: both run in the environment's one DuckDB worker, where a statement queued behind
  // another for long (a worker starting) is refused as busy.
  const describeAll = async () => {
    const described = [];
    for (const name of LISTED_CONNECTIONS) described.push(await runTool(call, 'get_connection', { name }));
    return described;
  };
  const [connections, models, insights, dashboards] = await Promise.all([
    describeAll(),
    runTool(call, 'list_semantic_models', {}),
    runTool(call, 'list_insights', { limit: LISTED_ASSETS }),
    runTool(call, 'list_dashboards', { limit: LISTED_ASSETS }),
  ]);
  const tables = connections.flatMap((c) =>
    c.schemas.flatMap((s) =>
      s.tables.map((t) => ({
        uri: uriOf({ kind: 'table', connection: c.name, table: t.name }),
        name: `${c.name}.${t.name}`,
        description: `${t.description ? `${t.description} ` : ''}(${t.estimated_rows} rows, ${t.columns.length} columns)`,
        mimeType: 'text/markdown',
      })),
    ),
  );
  return [
    ...tables,
    ...models.items.map((m) => ({
      uri: uriOf({ kind: 'semanticModel', name: m.name }),
      name: m.name,
      ...(m.title ? { title: m.title } : {}),
      description: m.description ?? `Semantic model of ${m.connection}.${m.table}`,
      mimeType: 'application/json',
    })),
    ...insights.items.map((i) => ({
      uri: uriOf({ kind: 'insight', id: i.id }),
      name: `insight ${i.id}`,
      title: i.title,
      description: i.description || `Insight: ${i.title}`,
      mimeType: 'application/json',
    })),
    ...dashboards.items.map((d) => ({
      uri: uriOf({ kind: 'dashboard', id: d.id }),
      name: `dashboard ${d.id}`,
      title: d.title,
      description: d.description || `Dashboard: ${d.title}`,
      mimeType: 'application/json',
    })),
  ];
}

const encodeCursor = (offset: number) => Buffer.from(JSON.stringify({ offset })).toString('base64url');

function decodeCursor(cursor: unknown): number {
  if (cursor === undefined) return 0;
  if (typeof cursor !== 'string' || cursor.length > 100) throw invalidParams('Invalid params: cursor is not one this server gave.');
  try {
    const { offset } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { offset?: unknown };
    if (typeof offset === 'number' && Number.isSafeInteger(offset) && offset > 0) return offset;
  } catch {
    // falls through to the error
  }
  throw invalidParams('Invalid params: cursor is not one this server gave.');
}

/** resources/list: one page of PAGE_SIZE, and the cursor of the next. */
export async function listResources(call: FeatureCall, cursor: unknown): Promise<{ resources: ListedResource[]; nextCursor?: string }> {
  const offset = decodeCursor(cursor);
  const all = await allResources(call);
  const resources = all.slice(offset, offset + PAGE_SIZE);
  return offset + PAGE_SIZE < all.length ? { resources, nextCursor: encodeCursor(offset + PAGE_SIZE) } : { resources };
}

export type ResourceContents = { uri: string; mimeType: string } & ({ text: string } | { blob: string });

const notFound = (uri: string) => new FeatureError(ErrorCode.InvalidParams, 'Resource not found', { uri });

/** resources/read: the resource's contents, or -32602 "Resource not found" with the URI in `data`. */
export async function readResource(call: FeatureCall, uri: unknown): Promise<{ contents: ResourceContents[] }> {
  if (typeof uri !== 'string' || uri.length === 0) throw invalidParams('Invalid params: uri (a string) is required.');
  const ref = uri.length <= MAX_URI_CHARS ? parseUri(uri) : undefined;
  if (!ref) throw notFound(uri.slice(0, MAX_URI_CHARS));
  try {
    const json = (value: unknown) => ({ contents: [{ uri, mimeType: 'application/json', text: JSON.stringify(value) }] });
    switch (ref.kind) {
      case 'table':
        return { contents: [{ uri, mimeType: 'text/markdown', text: await describeTable(call, ref.connection, ref.table) }] };
      case 'semanticModel':
        return json(await runTool(call, 'get_semantic_model', { name: ref.name }));
      case 'insight':
        return json(await runTool(call, 'view_insight', { id: ref.id }));
      case 'dashboard':
        return json(await runTool(call, 'view_dashboard', { id: ref.id, include_data: false }));
      case 'export':
        return { contents: [await readExport(call, ref.id, uri)] };
    }
  } catch (error) {
    // Unknown, malformed or another environment's: all read as not found.
    if (error instanceof FeatureError && error.code === Number(ErrorCode.InvalidParams)) throw notFound(uri);
    throw error;
  }
}

type Connection = ToolIO['get_connection']['output'];

/** The table as compact Markdown: what it is, its columns, its size and a few rows. */
async function describeTable(call: FeatureCall, connection: string, table: string): Promise<string> {
  const described: Connection = await runTool(call, 'get_connection', { name: connection });
  const found = described.schemas.flatMap((s) => s.tables.map((t) => ({ schema: s.name, t }))).find(({ t }) => t.name === table);
  if (!found) throw invalidParams(`No table ${table} in ${connection}.`);
  const { schema, t } = found;
  const builtIn = described.kind !== 'postgres';
  const from = builtIn ? quoteIdent(t.name) : `${quoteIdent(schema)}.${quoteIdent(t.name)}`;
  const sample = await runTool(call, 'query_lakehouse', {
    connection,
    sql: `SELECT * FROM ${from} LIMIT ${SAMPLE_ROWS}`,
    limit: SAMPLE_ROWS,
    offset: 0,
    timeout_ms: 15_000,
  });
  const lines = [`# ${connection}.${builtIn ? '' : `${schema}.`}${t.name}`, ''];
  if (t.description) lines.push(t.description, '');
  lines.push(`Rows: ${t.estimated_rows}${builtIn ? '' : ' (estimate)'}`, '', '## Columns', '');
  for (const c of t.columns) {
    lines.push(`- ${c.name} ${c.type}${c.nullable ? '' : ' NOT NULL'}${c.description ? ` — ${c.description}` : ''}`);
  }
  lines.push('', `## Sample rows (${sample.rows.length})`, '');
  const names = sample.columns.map((c) => c.name);
  lines.push(`| ${names.join(' | ')} |`, `|${names.map(() => '---|').join('')}`);
  for (const row of sample.rows) lines.push(`| ${row.map(cell).join(' | ')} |`);
  lines.push('', `Query it with query_lakehouse (connection "${connection}"): SELECT … FROM ${from}`);
  return lines.join('\n');
}

function cell(value: unknown): string {
  const text = value === null || value === undefined ? 'NULL' : typeof value === 'string' ? value : JSON.stringify(value);
  const short = text.length > CELL_CHARS ? `${text.slice(0, CELL_CHARS - 1)}…` : text;
  return short.replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ');
}

/**
 * An exported result of the token's environment (another environment's or an expired one is not found): the
 * file itself up to INLINE_EXPORT_BYTES, else a note with its size and download URL. Needs the read scope,
 * as the tools the other resources stand for do.
 */
async function readExport(call: FeatureCall, id: string, uri: string): Promise<ResourceContents> {
  if (!call.principal.scopes.has('read')) {
    throw httpError(403, transportErrorCode(call.modern, 403), 'Forbidden: reading an export needs the read scope.', call.id);
  }
  const file = await call.services.lakehouse.results.find(call.principal.environmentId, id);
  if (!file) throw invalidParams('Resource not found');
  const mimeType = RESULT_MIME_TYPES[file.format];
  if (file.bytes > INLINE_EXPORT_BYTES) {
    const url = exportUrl(call.services.config.publicUrl, file.id);
    return {
      uri,
      mimeType: 'text/plain',
      text:
        `This ${file.format} result has ${file.rows} rows in ${formatBytes(file.bytes)}, more than the ${formatBytes(INLINE_EXPORT_BYTES)} ` +
        `read here. Download it until ${file.expiresAt.toISOString()}: GET ${url} with the same bearer token.`,
    };
  }
  let data: Buffer;
  try {
    data = await fs.promises.readFile(file.file);
  } catch {
    throw invalidParams('Resource not found'); // swept meanwhile
  }
  return file.format === 'csv' ? { uri, mimeType, text: data.toString('utf8') } : { uri, mimeType, blob: data.toString('base64') };
}
