import assert from 'node:assert/strict';
import type { Middleware } from 'openapi-fetch';
import { createLakehouseClient } from '../../src/client/index.js';
import { routes } from '../../src/generated/routes.js';
import validators from '../../src/generated/validators.cjs';

/**
 * Checks a response against the contract: its status must be declared for the operation (or covered by
 * `default`), and a JSON body must match that status's schema. Every REST call in the tests goes through this.
 */
export async function assertMatchesContract(method: string, pathTemplate: string, response: Response): Promise<void> {
  const route = routes.find((r) => r.method === method.toLowerCase() && r.path === pathTemplate);
  assert.ok(route, `${method} ${pathTemplate} is not in the contract`);
  const declared = route.responses[String(response.status)] ?? route.responses.default;
  assert.ok(declared, `${method} ${pathTemplate} answered ${response.status}, which the contract does not declare`);
  const contentType = (response.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
  if (Object.keys(declared).length === 0) return;
  assert.ok(contentType in declared, `${method} ${pathTemplate} ${response.status}: content type "${contentType}" is not declared`);
  const validatorName = declared[contentType];
  if (!validatorName) return;
  const body: unknown = await response.clone().json();
  const validate = validators[validatorName];
  assert.ok(
    validate(body),
    `${method} ${pathTemplate} ${response.status} body breaks the contract: ${JSON.stringify(validate.errors)}\n${JSON.stringify(body)}`,
  );
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
