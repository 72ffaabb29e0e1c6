import { AppError } from '../errors.js';
import type { OperationHandler, OperationRequest } from '../generated/handlers.js';
import type { OperationContext } from '../operations/context.js';
import type { Principal } from '../oauth/principal.js';
import { decideDiscovery } from './discoveries.js';

// POST /api/v1/discoveries/{id}/approve and /reject (specs/openapi.yaml): REST-only, for environment admins.
// The router verifies the bearer token and the `write` scope; decideDiscovery checks the admin role.

async function decide(
  kind: 'approved' | 'rejected',
  request: OperationRequest<'approveDiscovery' | 'rejectDiscovery'>,
  ctx: OperationContext,
) {
  // Set by the router for routes that need a bearer token (specs/openapi.yaml: security oauth2 [write]).
  const { principal } = ctx as { principal?: Principal };
  if (!principal) throw new AppError('unauthorized', 'This route needs a bearer token.');
  const body = request.body ?? {};
  const discovery = await decideDiscovery(ctx.db, principal, {
    id: request.params.id,
    decision: kind,
    version: body.version,
    note: body.note,
  });
  return { status: 200 as const, body: discovery };
}

export const approveDiscovery: OperationHandler<'approveDiscovery'> = (request, ctx) => decide('approved', request, ctx);
export const rejectDiscovery: OperationHandler<'rejectDiscovery'> = (request, ctx) => decide('rejected', request, ctx);
