/**
 * Type tests, checked by `npm run typecheck` (tsc): each `@ts-expect-error` line must fail to compile, so a
 * handler map with a missing, extra or wrongly typed implementation can never build. If one of these stops
 * failing, tsc reports the directive as unused and the check fails.
 */
import { AppError } from '../../src/errors.js';
import type { OperationHandlers, OperationIO, ToolHandlers, ToolIO } from '../../src/generated/handlers.js';
import type { paths } from '../../src/generated/openapi.js';
import type { Insight } from '../../src/generated/tool-types.js';
import type { Services } from '../../src/operations/context.js';
import { operationHandlers, toolHandlers } from '../../src/operations/index.js';

toolHandlers satisfies ToolHandlers;
operationHandlers satisfies OperationHandlers;

const { get_doc: _getDoc, ...withoutGetDoc } = toolHandlers;
// @ts-expect-error a tool without an implementation
withoutGetDoc satisfies ToolHandlers;

// @ts-expect-error an implementation of a tool that has no spec
({ ...toolHandlers, drop_everything: async () => ({}) }) satisfies ToolHandlers;

const searchByNumber = async (input: { query: number }) => ({ items: [{ slug: String(input.query), title: '', snippet: '' }] });
// @ts-expect-error an implementation that takes the wrong input type
({ ...toolHandlers, search_docs: searchByNumber }) satisfies ToolHandlers;

// @ts-expect-error an implementation that answers the wrong result type
({ ...toolHandlers, get_doc: async () => ({ slug: 'a', title: 'b', body: 42, updated_at: '' }) }) satisfies ToolHandlers;

const { getHealth: _getHealth, ...withoutHealth } = operationHandlers;
// @ts-expect-error a REST operation without an implementation
withoutHealth satisfies OperationHandlers;

// @ts-expect-error a REST operation answering a status its contract does not declare
({ ...operationHandlers, getHealth: async () => ({ status: 201 as const, body: { status: 'ok' as const } }) }) satisfies OperationHandlers;

// Validated input: ajv fills declared defaults in before a handler runs, so those fields are always present
// (nested ones too), and handlers need not restate the defaults.
declare const queryInput: ToolIO['query_lakehouse']['input'];
queryInput.limit satisfies number;
queryInput.timeout_ms satisfies number;
declare const order: NonNullable<ToolIO['query_semantic_model']['input']['order']>[number];
order.direction satisfies 'asc' | 'desc';
declare const auditQuery: OperationIO['listAuditLog']['query'];
auditQuery.limit satisfies number;
// @ts-expect-error a validated input lacks no defaulted field
({ sql: 'SELECT 1' }) satisfies ToolIO['query_lakehouse']['input'];

// Callers may leave defaulted fields out: a tool's arguments and the REST client's request types.
({ sql: 'SELECT 1' }) satisfies ToolIO['query_lakehouse']['arguments'];
({ sql: 'SELECT 1' }) satisfies paths['/api/v1/lakehouse/query']['post']['requestBody']['content']['application/json'];
({}) satisfies NonNullable<paths['/api/v1/insights']['get']['parameters']['query']>;

// Shared schemas are one type each, under their contract name.
declare const viewed: ToolIO['view_insight']['output'];
viewed.insight satisfies Insight;

// Services are passed explicitly: a server or harness that leaves one out does not compile.
declare const services: Services;
const { lakehouse: _lakehouse, ...withoutLakehouse } = services;
// @ts-expect-error Services without the lakehouse
withoutLakehouse satisfies Services;

// Error codes are a closed list: a code outside the table of src/errors.ts does not compile.
// @ts-expect-error an error code that is not in the table
new AppError('too_large', 'a near-twin of payload_too_large');
