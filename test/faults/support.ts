import assert from 'node:assert/strict';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.js';

// Small helpers shared by the fault, fuzz and rate-limit tests (not a test file: no `.test.ts`).

export const MCP_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2025-11-25',
} as const;

export interface Answer {
  status: number;
  headers: Headers;
  contentType: string;
  text: string;
  /** The parsed JSON body, or undefined when the body is not JSON. */
  json: unknown;
}

export async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    json = undefined;
  }
  return {
    status: response.status,
    headers: response.headers,
    contentType: (response.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '',
    text,
    json,
  };
}

/** POSTs a JSON-RPC message (or raw text) to `/v1` with the usual MCP headers, overridable. */
export async function postRpc(
  baseUrl: string,
  body: unknown,
  headers: Record<string, string | undefined> = {},
  signal?: AbortSignal,
): Promise<Answer> {
  const merged: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...MCP_HEADERS, ...headers })) if (value !== undefined) merged[name] = value;
  const response = await fetch(`${baseUrl}/v1`, {
    method: 'POST',
    headers: merged,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
  return answerOf(response);
}

/** tools/call of `name` with `args` as bearer `token`. */
export function callTool(
  baseUrl: string,
  token: string,
  name: string,
  args: unknown,
  id: number | string = 1,
  signal?: AbortSignal,
): Promise<Answer> {
  return postRpc(
    baseUrl,
    { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } },
    { authorization: `Bearer ${token}` },
    signal,
  );
}

export interface ToolResult {
  isError?: boolean;
  content?: { type: string; text?: string }[];
  structuredContent?: Record<string, unknown>;
  _meta?: { 'lakehouse-mcp/error'?: { code?: string; retry_after?: number } };
}

/** The `result` of a JSON-RPC answer (asserting it is one). */
export function resultOf(answer: Answer): ToolResult {
  const body = answer.json as { result?: ToolResult; error?: unknown } | undefined;
  assert.ok(body?.result, `expected a JSON-RPC result, got HTTP ${answer.status}: ${answer.text.slice(0, 500)}`);
  return body.result;
}

/**
 * "A well-formed error every time": what each surface answers when it refuses.
 * - /v1: a JSON-RPC error object (code: integer, message: string) or a tool result with isError and a code;
 * - REST and operational routes: application/problem+json with a string `code`;
 * - OAuth endpoints: `{error, error_description?}` JSON (RFC 6749 / 7591).
 * Returns a description of what is wrong, or undefined when the answer is well formed.
 */
export function malformedMcpAnswer(answer: Answer): string | undefined {
  if (answer.status === 202) return answer.text === '' ? undefined : '202 with a body';
  const body = answer.json as { jsonrpc?: unknown; error?: { code?: unknown; message?: unknown }; result?: ToolResult } | undefined;
  if (!body || body.jsonrpc !== '2.0') return `not a JSON-RPC body (HTTP ${answer.status} ${answer.contentType})`;
  if (body.error) {
    if (!Number.isInteger(body.error.code) || typeof body.error.message !== 'string' || !body.error.message)
      return 'JSON-RPC error without code or message';
    return undefined;
  }
  if (!body.result) return 'JSON-RPC answer with neither result nor error';
  if (answer.status !== 200) return `a result with HTTP ${answer.status}`;
  if (body.result.isError) {
    const code = body.result._meta?.['lakehouse-mcp/error']?.code;
    if (typeof code !== 'string' || !body.result.content?.[0]?.text) return 'isError result without a code or a message';
  }
  return undefined;
}

export function malformedProblem(answer: Answer): string | undefined {
  if (answer.status < 400) return undefined;
  if (answer.contentType !== 'application/problem+json') return `HTTP ${answer.status} as ${answer.contentType}, not problem+json`;
  const body = answer.json as { code?: unknown; status?: unknown; detail?: unknown } | undefined;
  if (typeof body?.code !== 'string' || body.status !== answer.status || typeof body.detail !== 'string')
    return `problem without code/status/detail: ${answer.text.slice(0, 200)}`;
  return undefined;
}

export function malformedOAuthError(answer: Answer): string | undefined {
  if (answer.status < 400) return undefined;
  const body = answer.json as { error?: unknown; error_description?: unknown } | undefined;
  if (answer.contentType === 'application/json' && typeof body?.error === 'string' && /^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/.test(body.error))
    return undefined;
  // Errors the app answers before the OAuth handler runs (415 on a route's content type) are problem documents.
  if (answer.contentType === 'application/problem+json') return malformedProblem(answer);
  return `OAuth error that is neither an RFC 6749 body nor a problem: HTTP ${answer.status} ${answer.contentType} ${answer.text.slice(0, 200)}`;
}

/** Tables whose rows a refused request must never change (audit, counters and docs excluded on purpose). */
const WATCHED_TABLES = [
  'organizations',
  'environments',
  'users',
  'memberships',
  'connections',
  'semantic_models',
  'insights',
  'dashboards',
  'dashboard_widgets',
  'notifications',
  'discoveries',
  'memories',
  'webhooks',
  'webhook_deliveries',
  'idempotency_keys',
  'oauth_clients',
  'service_accounts',
  'oauth_grants',
  'oauth_authorization_codes',
  'oauth_refresh_tokens',
  'oauth_signing_keys',
];

/** Row counts of the main tables (those that exist in this schema), in one statement. */
export async function rowCounts(db: Kysely<Database>): Promise<Record<string, number>> {
  const { rows: present } = await sql<{
    name: string;
  }>`SELECT relname AS name FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace AND relname = ANY(${WATCHED_TABLES})`.execute(
    db,
  );
  if (present.length === 0) return {};
  const select = present.map(({ name }) => `(SELECT count(*) FROM "${name}")::int AS "${name}"`).join(', ');
  const { rows } = await sql<Record<string, number>>`SELECT ${sql.raw(select)}`.execute(db);
  return rows[0] ?? {};
}

/** Polls `check` until it is true or `timeoutMs` passes. */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // keep polling
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Waits, when fewer than `marginMs` remain in the current clock-aligned minute, until the next one starts:
 * the fixed windows of the limits are aligned to the minute, and a test must not straddle two of them.
 */
export async function awayFromMinuteEdge(marginMs = 15_000): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < marginMs) await new Promise((resolve) => setTimeout(resolve, left + 250));
}
