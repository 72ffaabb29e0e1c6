/**
 * The breaking-change rules, one row each: what the checker detects and why it breaks a client that was
 * written against the released contract. `compare.ts` walks both contracts and reports a row by its id;
 * every row has a before/after fixture pair in test/contract/fixtures/breaking/<id>[.<variant>]/.
 *
 * "Request" means what clients send (tool inputs, parameters, request bodies); "response" what they receive
 * (tool outputs, response bodies). A change is breaking when a request that was valid may now be refused,
 * or a response a client relied on may now differ from what its code (or its generated types) expects.
 */
export const RULES = [
  { id: 'removed-operation', detects: 'an operation (path + method) is gone', why: 'clients calling it now get 404 or 405' },
  { id: 'removed-tool', detects: 'an MCP tool is gone', why: 'agents and clients calling it now get an unknown-tool error' },
  {
    id: 'removed-response-field',
    detects: 'a property of a response or tool output is gone',
    why: 'clients that read it get undefined',
  },
  {
    id: 'optional-response-field',
    detects: 'a required response or output property became optional',
    why: 'clients that rely on it being present may now get undefined',
  },
  {
    id: 'removed-enum-value',
    detects: 'an enum value is gone (request or response)',
    why: 'requests sending it are refused, and typed clients that handle it no longer compile',
  },
  {
    id: 'removed-request-field',
    detects: 'a request or tool input property is gone from a closed schema (additionalProperties: false)',
    why: 'requests that still send it are refused as unknown',
  },
  { id: 'removed-parameter', detects: 'a query or header parameter is gone', why: 'requests that still send it are refused as unknown' },
  {
    id: 'new-required-request-field',
    detects: 'a request or tool input property is newly required (or the body became required)',
    why: 'requests written without it are refused',
  },
  { id: 'new-required-parameter', detects: 'a parameter is newly required', why: 'requests written without it are refused' },
  {
    id: 'changed-type',
    detects: 'a schema type changed (narrowed in a request, widened in a response)',
    why: 'values clients send or parse have a different type than their code expects',
  },
  {
    id: 'tightened-bound',
    detects:
      'maxLength, maximum, exclusiveMaximum, maxItems, maxProperties lowered or added; the min* counterparts raised or added (request)',
    why: 'values that clients send today may now be refused',
  },
  { id: 'tightened-pattern', detects: 'a pattern added or changed (request)', why: 'strings that clients send today may now be refused' },
  {
    id: 'closed-additional-properties',
    detects: 'additionalProperties became false or a schema where it allowed anything (request)',
    why: 'requests carrying extra properties are now refused',
  },
  {
    id: 'changed-scope',
    detects: 'the OAuth scope a tool or operation needs changed',
    why: 'tokens issued with the old scope are now refused (403)',
  },
  {
    id: 'changed-security',
    detects: 'a security requirement that satisfied an operation no longer does (new auth on a public route, other scheme or scopes)',
    why: 'clients authenticating the old way are now refused (401 or 403)',
  },
] as const satisfies readonly { id: string; detects: string; why: string }[];

export type RuleId = (typeof RULES)[number]['id'];

export function why(rule: RuleId): string {
  return RULES.find((r) => r.id === rule)?.why ?? '';
}
