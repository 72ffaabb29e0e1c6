import path from 'node:path';
import fs from 'node:fs';
import { AppError } from '../errors.js';
import type { OperationHandler } from '../generated/handlers.js';
import { metricsRegistry } from '../http/metrics.js';
import { CODE_DIR } from '../package-paths.js';

export const getHealth: OperationHandler<'getHealth'> = async () => ({ status: 200, body: { status: 'ok' } });

export const getReadiness: OperationHandler<'getReadiness'> = async (_request, ctx) => {
  try {
    await ctx.ping();
  } catch (error) {
    ctx.log.warn({ err: error }, 'readiness check failed: database unreachable');
    throw new AppError('unavailable', 'The database cannot be reached; retry shortly.');
  }
  return { status: 200, body: { status: 'ok' } };
};

export const getMetrics: OperationHandler<'getMetrics'> = async () => ({
  status: 200,
  body: await metricsRegistry.metrics(),
  headers: { 'content-type': metricsRegistry.contentType },
});

const openApiDocument = JSON.parse(fs.readFileSync(path.join(CODE_DIR, 'generated', 'openapi.json'), 'utf8')) as Record<string, unknown>;

export const getOpenApi: OperationHandler<'getOpenApi'> = async () => ({ status: 200, body: openApiDocument });
