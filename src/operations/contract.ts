/**
 * The published contract besides /openapi.json (health.ts): the human-readable API reference at /docs/api,
 * rendered by Redoc's standalone bundle served from the installed `redoc` package (no CDN), and the tool
 * catalogue as JSON at /api/v1/tools. All public.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { OperationHandler } from '../generated/handlers.js';
import { toolCatalogue } from '../generated/tools.js';
import { sendStaticFile, staticFile } from '../http/static-file.js';
import type { KoaOperationHandler } from './context.js';

const SCRIPT_PATH = '/docs/api/redoc.standalone.js';
const scriptFile = createRequire(import.meta.url).resolve('redoc/bundles/redoc.standalone.js');
const script = staticFile(fs.readFileSync(scriptFile));
/** Subresource Integrity of the script: the page refuses to run anything else at that URL. */
const integrity = `sha384-${crypto.createHash('sha384').update(script.body).digest('base64')}`;

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lakehouse-mcp API reference</title>
</head>
<body>
<redoc spec-url="/openapi.json" hide-download-button="false"></redoc>
<script src="${SCRIPT_PATH}" integrity="${integrity}"></script>
</body>
</html>
`;

/**
 * The page's policy allows exactly our copy of Redoc as a script (by its full URL, as the browser asked for
 * it), and what Redoc needs to run: its injected styles, the contract fetched from this origin, data: images
 * and its search worker (a blob: URL). Nothing else loads, nothing frames the page.
 */
function policy(origin: string): string {
  return [
    "default-src 'none'",
    `script-src ${origin}${SCRIPT_PATH}`,
    "style-src 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    'worker-src blob:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export const getApiReference: KoaOperationHandler = async (ctx) => {
  ctx.set('Content-Security-Policy', policy(`${ctx.protocol}://${ctx.host}`));
  ctx.set('Cache-Control', 'no-cache');
  ctx.type = 'text/html; charset=utf-8';
  ctx.body = page;
};

export const getApiReferenceScript: KoaOperationHandler = async (ctx) => {
  sendStaticFile(ctx, script, 'text/javascript; charset=utf-8');
};

const catalogue = {
  tools: toolCatalogue.map((tool) => ({
    name: tool.name,
    title: tool.title,
    description: tool.description,
    scope: tool.scope,
    annotations: { ...tool.annotations },
    inputSchema: tool.inputSchema,
    outputSchema: tool.outputSchema,
    rest: tool.rest,
  })),
};

export const listToolCatalogue: OperationHandler<'listToolCatalogue'> = async () => ({ status: 200, body: catalogue });
