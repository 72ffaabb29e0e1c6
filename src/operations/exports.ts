import fs from 'node:fs';
import { AppError, notFound } from '../errors.js';
import type { ExportedResult } from '../generated/tool-types.js';
import type { BindValue } from '../lakehouse/lakehouse.js';
import { RESULT_MIME_TYPES, type ResultFile, type ResultFormat } from '../lakehouse/results/store.js';
import type { KoaOperationHandler, ToolContext } from './context.js';

// The `export` of the query tools (issue 18): the full result of the statement the tool ran, written once as
// a file of the environment (the result store's quota, size cap and expiry), described in the answer and
// linked as an MCP resource_link. The statement is the one the tool ran, checked by the same guard.

/** The MCP resource URI of an exported result (read with resources/read, src/mcp/resources.ts). */
export const exportUri = (id: string) => `lakehouse://exports/${id}`;

/** Its download URL under PUBLIC_URL (GET /api/v1/exports/{id}, the same bearer token). */
export const exportUrl = (publicUrl: string, id: string) => `${publicUrl}/api/v1/exports/${id}`;

/** A file name for a download: what it is and when it was made. */
export const exportFileName = (file: ResultFile) =>
  `result-${file.createdAt.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-')}-${file.id.slice(0, 8)}.${file.format}`;

/** What an answer says about an exported result. */
export function describeExport(file: ResultFile, publicUrl: string): ExportedResult {
  return {
    id: file.id,
    uri: exportUri(file.id),
    url: exportUrl(publicUrl, file.id),
    format: file.format,
    rows: file.rows,
    bytes: file.bytes,
    expires_at: file.expiresAt.toISOString(),
  };
}

/** Writes the full result of `sql` on `connection` as `format`, and links it in the call's MCP content. */
export async function exportQuery(
  ctx: ToolContext,
  connection: string,
  sql: string,
  format: ResultFormat,
  timeoutMs: number,
  values?: BindValue[],
): Promise<ExportedResult> {
  const environmentId = ctx.principal.environmentId;
  const file = await ctx.lakehouse.results.write(environmentId, { kind: 'export', format }, (path, maxBytes) =>
    ctx.lakehouse.exportTo(
      environmentId,
      connection,
      sql,
      { file: path, format, maxBytes },
      { timeoutMs, signal: ctx.signal, ...(values ? { values } : {}) },
    ),
  );
  const described = describeExport(file, ctx.config.publicUrl);
  ctx.content?.push({
    type: 'resource_link',
    uri: described.uri,
    name: exportFileName(file),
    mimeType: RESULT_MIME_TYPES[format],
    size: file.bytes,
    description: `The full result: ${file.rows} rows, ${format}, until ${described.expires_at}. Also at ${described.url} (same bearer token).`,
  });
  return described;
}

/**
 * GET /api/v1/exports/{id}: streams an exported result of the token's environment (the router has checked the
 * token and its read scope). Another environment's, an expired or an unknown id: 404, the same for all three.
 */
export const downloadExport: KoaOperationHandler = async (ctx, { principal, lakehouse }) => {
  if (!principal) throw new AppError('internal_error', 'the download route runs without a principal');
  const id = (ctx.params as Record<string, string | undefined>).id ?? '';
  const file = await lakehouse.results.find(principal.environmentId, id);
  let stream: fs.ReadStream | undefined;
  if (file) {
    // Opened before answering: a file swept just now is a 404, not a broken 200.
    stream = await new Promise<fs.ReadStream | undefined>((resolve) => {
      const opened = fs.createReadStream(file.file);
      opened.once('open', () => resolve(opened));
      opened.once('error', () => resolve(undefined));
    });
  }
  if (!file || !stream) {
    throw notFound(
      `No exported result ${id.slice(0, 64)} in this environment: it expired (results are kept RESULT_TTL_HOURS) or never existed. Export it again.`,
    );
  }
  ctx.status = 200;
  ctx.type = RESULT_MIME_TYPES[file.format];
  ctx.length = file.bytes;
  ctx.attachment(exportFileName(file));
  ctx.set('Cache-Control', 'private, no-store');
  ctx.body = stream;
};
