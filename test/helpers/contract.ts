import assert from 'node:assert/strict';
import type { ErrorObject } from 'ajv';
import type { Middleware } from 'openapi-fetch';
import { createLakehouseClient } from '../../src/client/index.js';
import { routes, type RouteDefinition } from '../../src/generated/routes.js';
import validators from '../../src/generated/response-validators.cjs';

/** Responses already checked, with the `METHOD template` they were checked as (the fetch wrapper and restClient both see them). */
const checked = new WeakMap<Response, string>();

/**
 * Checks a response against the contract: its status must be declared for the operation (or covered by
 * `default`), its content type declared for that status, and a JSON body must match that status's schema.
 * Every REST call in the tests goes through this (test/helpers/contract-fetch.ts calls it for every `fetch`).
 */
export async function assertMatchesContract(method: string, pathTemplate: string, response: Response): Promise<void> {
  const key = `${method.toUpperCase()} ${pathTemplate}`;
  if (checked.get(response) === key) return;
  const route = routes.find((r) => r.method === method.toLowerCase() && r.path === pathTemplate);
  assert.ok(route, `${key} is not in the contract`);
  const declared = route.responses[String(response.status)] ?? route.responses.default;
  assert.ok(
    declared,
    `${key} answered ${response.status}, which the contract does not declare (declared: ${Object.keys(route.responses).join(', ')})`,
  );
  if (Object.keys(declared).length > 0) {
    const contentType = mediaType(response);
    assert.ok(
      contentType in declared,
      `${key} ${response.status}: content type "${contentType}" is not declared (declared: ${Object.keys(declared).join(', ')})`,
    );
    const validatorName = declared[contentType];
    if (validatorName) await assertBody(`${key} ${response.status}`, validators[validatorName], response);
  }
  checked.set(response, key);
}

/**
 * Checks an error answered outside any operation of the contract (the app's 404 for an unknown path, its 405 for
 * a method a path does not serve): REST and operational errors are problem documents (README.md, "HTTP surface").
 */
export async function assertIsProblem(method: string, path: string, response: Response): Promise<void> {
  const key = `${method.toUpperCase()} ${path} (no such operation in the contract)`;
  const contentType = mediaType(response);
  assert.equal(
    contentType,
    'application/problem+json',
    `${key} answered ${response.status} with content type "${contentType}", not a problem document`,
  );
  await assertBody(`${key} ${response.status}`, problemValidator, response);
}

/** The media type of a response, lowercased, without parameters. */
function mediaType(response: Response): string {
  return (response.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

type Validate = (typeof validators)[keyof typeof validators];

async function assertBody(what: string, validate: Validate, response: Response): Promise<void> {
  let text: string;
  try {
    text = await response.clone().text();
  } catch {
    return; // the body never arrived (the request was aborted): there is nothing to check, and the caller sees why
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    assert.fail(`${what} body is not JSON (${(error as Error).message}): ${excerpt(text)}`);
  }
  assert.ok(validate(body), `${what} body breaks the contract: ${describeErrors(validate.errors)}\n${excerpt(JSON.stringify(body))}`);
}

function describeErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`).join('; ');
}

function excerpt(text: string): string {
  return text.length > 600 ? `${text.slice(0, 600)}… (${text.length} characters)` : text;
}

// The Problem schema: every operation's `default` response is `#/components/schemas/Problem` (the generator
// compiles response schemas per operation, so any of them is it).
const problemValidator: Validate = (() => {
  const name = routes.map((r) => r.responses.default?.['application/problem+json']).find((v) => v);
  assert.ok(name, 'no operation declares a problem document as its default response');
  return validators[name];
})();

const matchers = routes
  .map((route) => ({
    route,
    params: route.pathParams.length,
    regex: new RegExp(
      `^${route.path
        .split(/\{[^}]+\}/)
        .map(escapeRegExp)
        .join('[^/]+')}$`,
    ),
  }))
  // A literal segment wins over a parameter (POST /api/v1/docs/search is not GET /api/v1/docs/{slug}).
  .sort((a, b) => a.params - b.params);

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The operation serving `method path`, as the server routes it: the path exactly, or an OAuth endpoint under
 * the issuer's path (`/auth/oauth/token` when ISSUER_URL is `…/auth`), or the RFC 8414 §3 path-inserted metadata
 * URL (`/.well-known/oauth-authorization-server/auth`). With `method` undefined: an operation of any method.
 */
export function contractRoute(method: string | undefined, path: string): RouteDefinition | undefined {
  const serves = (m: (typeof matchers)[number], p: string) =>
    (method === undefined || m.route.method === method.toLowerCase()) && m.regex.test(p);
  const exact = matchers.find((m) => serves(m, path));
  if (exact) return exact.route;
  if (path.startsWith('/.well-known/oauth-authorization-server/'))
    return matchers.find((m) => serves(m, '/.well-known/oauth-authorization-server'))?.route;
  const oauth = path.indexOf('/oauth/');
  if (oauth > 0) return matchers.find((m) => m.route.path.startsWith('/oauth/') && serves(m, path.slice(oauth)))?.route;
  return undefined;
}

const contractCheck: Middleware = {
  async onResponse({ request, response, schemaPath }) {
    await assertMatchesContract(request.method, schemaPath, response);
    return undefined;
  },
};

/** The partner client (`lakehouse-mcp/client`) for the REST API, with every response checked against the contract. */
export function restClient(baseUrl: string, headers: Record<string, string> = {}) {
  const client = createLakehouseClient(baseUrl, { headers });
  client.use(contractCheck);
  return client;
}
