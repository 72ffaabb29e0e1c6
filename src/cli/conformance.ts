/**
 * `lakehouse-mcp conformance <url> [--token T | --client-id ID --client-secret S] [--junit FILE]`
 * (also `npm run conformance -- <url> …`): checks a running deployment against the contract this package was
 * built from (src/generated/), as a black box over HTTP:
 *  - /openapi.json, /api/v1/tools, /docs/api, both RFC 9728 metadata documents and the RFC 8414 metadata,
 *    each validated against its schema in the contract;
 *  - the 401 challenge of the MCP endpoint (/v1) and the metadata it points to;
 *  - with a token (or client credentials, exchanged at the token endpoint the metadata names): initialize,
 *    tools/list, and tools/call of every read tool with an input built from the spec's `examples`, validating
 *    every result and its `structuredContent` against the tool's output schema. A well-formed `not_found`
 *    error conforms (an example may name an asset this deployment does not have).
 * Prints a readable report; exits 1 on any mismatch; `--junit FILE` writes JUnit XML for CI systems.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { parseCliArgs } from './args.js';
import {
  CallToolResultSchema,
  InitializeResultSchema,
  LATEST_PROTOCOL_VERSION,
  ListToolsResultSchema,
} from '@modelcontextprotocol/sdk/types.js';
import contract from '../generated/openapi.json' with { type: 'json' };
import { routes } from '../generated/routes.js';
import { toolOutputValidators } from '../generated/tool-output-validators.js';
import { toolCatalogue } from '../generated/tools.js';
import validators from '../generated/response-validators.cjs';

export interface ConformanceOptions {
  url: string;
  token?: string | undefined;
  clientId?: string | undefined;
  clientSecret?: string | undefined;
  /** Per-request timeout in milliseconds. */
  timeoutMs?: number;
}

export interface CheckResult {
  group: string;
  name: string;
  outcome: 'passed' | 'failed' | 'skipped';
  /** Why it failed or was skipped. */
  message?: string;
  ms: number;
}

/** A failed expectation inside a check: its message is the report line. */
class Mismatch extends Error {}
class Skip extends Error {}

function expect(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Mismatch(message);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const short = (v: unknown) => {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
};

interface Fetched {
  status: number;
  contentType: string;
  headers: Headers;
  text: string;
  json: unknown;
}

/** Problems of a response against its operation in the contract (status declared, content type, JSON schema). */
export function contractProblems(method: string, pathTemplate: string, res: Fetched): string[] {
  const route = routes.find((r) => r.method === method.toLowerCase() && r.path === pathTemplate);
  if (!route) return [`${method} ${pathTemplate} is not in this contract`];
  const declared = route.responses[String(res.status)] ?? route.responses.default;
  if (!declared) return [`answered ${res.status}, which the contract does not declare (${Object.keys(route.responses).join(', ')})`];
  if (Object.keys(declared).length === 0) return [];
  if (!(res.contentType in declared))
    return [`${res.status}: content type "${res.contentType}" is not declared (${Object.keys(declared).join(', ')})`];
  const name = declared[res.contentType];
  if (!name) return [];
  const validate = validators[name];
  if (validate(res.json)) return [];
  return (validate.errors ?? []).map(
    (e) => `${res.status} body${e.instancePath || ''} ${e.message ?? 'is invalid'}${e.params ? ` ${short(e.params)}` : ''}`,
  );
}

/** An input for a tool built from its schema's examples: the input's own `examples`, else each property's. */
export function exampleInput(schema: Record<string, unknown>): Record<string, unknown> | { missing: string } {
  if (Array.isArray(schema.examples) && isObject(schema.examples[0])) return schema.examples[0];
  const properties = isObject(schema.properties) ? schema.properties : {};
  const required = new Set(Array.isArray(schema.required) ? schema.required.filter((r) => typeof r === 'string') : []);
  const input: Record<string, unknown> = {};
  for (const [name, property] of Object.entries(properties)) {
    if (!isObject(property)) continue;
    if (Array.isArray(property.examples) && property.examples.length > 0) input[name] = property.examples[0];
    else if (required.has(name)) {
      if ('default' in property) input[name] = property.default;
      else if ('const' in property) input[name] = property.const;
      else return { missing: name };
    }
  }
  return input;
}

class Runner {
  readonly results: CheckResult[] = [];
  private readonly base: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: ConformanceOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  async check(group: string, name: string, fn: () => Promise<void>): Promise<boolean> {
    const started = Date.now();
    let outcome: CheckResult['outcome'] = 'passed';
    let message: string | undefined;
    try {
      await fn();
    } catch (error) {
      outcome = error instanceof Skip ? 'skipped' : 'failed';
      message = error instanceof Error ? error.message : String(error);
      if (!(error instanceof Mismatch) && !(error instanceof Skip) && error instanceof Error && error.cause) {
        message += ` (${String((error.cause as Error).message ?? error.cause)})`;
      }
    }
    this.results.push({ group, name, outcome, ...(message ? { message } : {}), ms: Date.now() - started });
    return outcome === 'passed';
  }

  async fetch(url: string, init: RequestInit = {}): Promise<Fetched> {
    const response = await fetch(url, { redirect: 'manual', ...init, signal: AbortSignal.timeout(this.timeoutMs) });
    const text = await response.text();
    const contentType = (response.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
    let json: unknown;
    if (contentType.includes('json')) {
      try {
        json = JSON.parse(text);
      } catch {
        throw new Mismatch(`${url}: ${response.status} ${contentType} body is not JSON: ${text.slice(0, 200)}`);
      }
    }
    return { status: response.status, contentType, headers: response.headers, text, json };
  }

  /** GETs a route of the contract and validates the response against it. */
  async getChecked(pathTemplate: string, url = `${this.base}${pathTemplate}`): Promise<Fetched> {
    const res = await this.fetch(url, { headers: { accept: 'application/json' } });
    const problems = contractProblems('GET', pathTemplate, res);
    expect(problems.length === 0, `GET ${url}: ${problems.join('; ')}`);
    return res;
  }
}

/** One JSON-RPC exchange with the MCP endpoint; answers the response message (JSON or the SSE event carrying it). */
async function rpc(
  runner: Runner,
  mcpUrl: string,
  token: string,
  protocolVersion: string | undefined,
  message: { method: string; params?: unknown; id?: number },
): Promise<Record<string, unknown> | undefined> {
  const res = await runner.fetch(mcpUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      authorization: `Bearer ${token}`,
      ...(protocolVersion ? { 'mcp-protocol-version': protocolVersion } : {}),
    },
    body: JSON.stringify({ jsonrpc: '2.0', ...message }),
  });
  if (message.id === undefined) {
    expect(res.status === 202 || res.status === 200, `${message.method}: a notification answered ${res.status}, not 202`);
    return undefined;
  }
  expect(res.status === 200, `${message.method}: answered ${res.status}: ${res.text.slice(0, 300)}`);
  let answer: unknown = res.json;
  if (res.contentType === 'text/event-stream') {
    const events = res.text.split(/\r?\n\r?\n/).map((block) =>
      block
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trimStart())
        .join('\n'),
    );
    answer = events
      .filter(Boolean)
      .map((data) => JSON.parse(data) as unknown)
      .find((m) => isObject(m) && m.id === message.id);
  } else {
    expect(res.contentType === 'application/json', `${message.method}: content type "${res.contentType}" is neither JSON nor SSE`);
  }
  expect(
    isObject(answer) && answer.jsonrpc === '2.0' && answer.id === message.id,
    `${message.method}: no JSON-RPC response with id ${message.id}`,
  );
  expect(!('error' in answer), `${message.method}: JSON-RPC error ${short(answer.error)}`);
  expect(isObject(answer.result), `${message.method}: the response has no result object`);
  return answer.result;
}

const zodProblems = (error: { issues: readonly { path: PropertyKey[]; message: string }[] }) =>
  error.issues.map((i) => `${i.path.map(String).join('.') || '(result)'}: ${i.message}`).join('; ');

export async function runConformance(options: ConformanceOptions): Promise<CheckResult[]> {
  const run = new Runner(options);
  const base = options.url.replace(/\/+$/, '');
  const mcpUrl = `${base}/v1`;

  // 1. The published contract.
  await run.check('contract', 'GET /openapi.json is this contract (every operation present, $refs internal)', async () => {
    const res = await run.getChecked('/openapi.json');
    const served = res.json as { openapi?: string; paths?: Record<string, Record<string, unknown>> };
    expect(served.openapi === contract.openapi, `openapi version ${String(served.openapi)}, expected ${contract.openapi}`);
    const missing: string[] = [];
    for (const [p, item] of Object.entries(contract.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(item)) if (!served.paths?.[p]?.[method]) missing.push(`${method.toUpperCase()} ${p}`);
    }
    expect(missing.length === 0, `the served contract lacks ${missing.join(', ')}`);
    const external = res.text.match(/"\$ref":\s*"(?!#)[^"]*"/g);
    expect(!external, `the served contract has external $refs: ${external?.slice(0, 3).join(', ')}`);
  });
  await run.check('contract', 'GET /api/v1/tools lists every tool of this contract', async () => {
    const res = await run.getChecked('/api/v1/tools');
    const names = (res.json as { tools: { name: string }[] }).tools.map((t) => t.name);
    const missing = toolCatalogue.map((t) => t.name).filter((n) => !names.includes(n));
    expect(missing.length === 0, `missing tools: ${missing.join(', ')}`);
  });
  await run.check('contract', 'GET /docs/api serves the API reference page', async () => {
    const res = await run.fetch(`${base}/docs/api`);
    const problems = contractProblems('GET', '/docs/api', res);
    expect(problems.length === 0, problems.join('; '));
    expect(res.status === 200 && /<html/i.test(res.text), `answered ${res.status} without an HTML page`);
  });

  // 2. OAuth metadata and the challenge.
  let issuer: string | undefined;
  let tokenEndpoint: string | undefined;
  for (const pathTemplate of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/v1']) {
    await run.check('oauth', `GET ${pathTemplate} (RFC 9728) names the MCP resource and its authorization server`, async () => {
      const res = await run.getChecked(pathTemplate);
      const meta = res.json as { resource: string; authorization_servers?: string[] };
      expect(meta.resource === mcpUrl, `resource is "${meta.resource}", expected "${mcpUrl}"`);
      const [server] = meta.authorization_servers ?? [];
      expect(server, 'no authorization_servers');
      issuer ??= server;
    });
  }
  await run.check('oauth', 'the authorization server metadata (RFC 8414) is valid and names its token endpoint', async () => {
    if (!issuer) throw new Skip('no issuer: the resource metadata failed');
    const url = new URL(issuer);
    const suffix = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '');
    const res = await run.getChecked(
      '/.well-known/oauth-authorization-server',
      `${url.origin}/.well-known/oauth-authorization-server${suffix}`,
    );
    const meta = res.json as { issuer: string; token_endpoint: string; grant_types_supported?: string[] };
    expect(meta.issuer === issuer, `issuer is "${meta.issuer}", expected "${issuer}"`);
    tokenEndpoint = meta.token_endpoint;
  });
  await run.check('oauth', 'POST /v1 without a token answers 401 with a Bearer challenge naming the resource metadata', async () => {
    const res = await run.fetch(mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status === 401, `answered ${res.status}, expected 401`);
    const challenge = res.headers.get('www-authenticate') ?? '';
    expect(/^Bearer\b/i.test(challenge), `WWW-Authenticate is "${challenge}", expected a Bearer challenge`);
    const metadata = /resource_metadata="([^"]+)"/.exec(challenge)?.[1];
    expect(metadata, `the challenge has no resource_metadata: "${challenge}"`);
    const meta = await run.fetch(metadata);
    expect(
      meta.status === 200 && isObject(meta.json) && meta.json.resource === mcpUrl,
      `resource_metadata ${metadata} does not describe ${mcpUrl}`,
    );
  });

  // 3. Authenticated: a token, or client credentials exchanged for one.
  let token = options.token;
  if (!token && options.clientId && options.clientSecret) {
    const { clientId, clientSecret } = options;
    await run.check('oauth', 'client_credentials at the token endpoint issues an access token', async () => {
      if (!tokenEndpoint) throw new Skip('no token endpoint: the authorization server metadata failed');
      const res = await run.fetch(tokenEndpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
          authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: mcpUrl }).toString(),
      });
      const tokenPath = routes.find((r) => r.operationId === 'requestToken')?.path ?? '/oauth/token';
      const problems = contractProblems('POST', tokenPath, res);
      expect(problems.length === 0, problems.join('; '));
      expect(res.status === 200, `answered ${res.status}: ${res.text.slice(0, 300)}`);
      token = (res.json as { access_token: string }).access_token;
    });
  }
  if (!token) {
    run.results.push({
      group: 'mcp',
      name: 'tools over MCP',
      outcome: 'skipped',
      message: 'no --token or --client-id/--client-secret',
      ms: 0,
    });
    return run.results;
  }
  const bearer = token;

  let protocolVersion: string | undefined;
  const ok = await run.check('mcp', 'initialize', async () => {
    const result = await rpc(run, mcpUrl, bearer, undefined, {
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: LATEST_PROTOCOL_VERSION,
        capabilities: {},
        clientInfo: { name: 'lakehouse-mcp-conformance', version: '1' },
      },
    });
    const parsed = InitializeResultSchema.safeParse(result);
    expect(parsed.success, `initialize result: ${parsed.success ? '' : zodProblems(parsed.error)}`);
    expect(parsed.data.capabilities.tools, 'the server does not announce the tools capability');
    protocolVersion = parsed.data.protocolVersion;
    await rpc(run, mcpUrl, bearer, protocolVersion, { method: 'notifications/initialized' });
  });
  if (!ok) return run.results;

  let listed: { name: string; outputSchema?: unknown; inputSchema: unknown }[] = [];
  await run.check('mcp', 'tools/list matches the catalogue of this contract', async () => {
    const result = await rpc(run, mcpUrl, bearer, protocolVersion, { id: 2, method: 'tools/list' });
    const parsed = ListToolsResultSchema.safeParse(result);
    expect(parsed.success, `tools/list result: ${parsed.success ? '' : zodProblems(parsed.error)}`);
    // Compared as served (zod's parse reorders keys), key order aside.
    listed = (result as { tools: typeof listed }).tools;
    const problems: string[] = [];
    for (const tool of listed) {
      const spec = toolCatalogue.find((t) => t.name === tool.name);
      if (!spec) problems.push(`${tool.name} is not in this contract`);
      else if (!isDeepStrictEqual(tool.inputSchema, spec.served.inputSchema))
        problems.push(`${tool.name}: inputSchema differs from the contract`);
      else if (!isDeepStrictEqual(tool.outputSchema, spec.served.outputSchema))
        problems.push(`${tool.name}: outputSchema differs from the contract`);
    }
    expect(problems.length === 0, problems.join('; '));
  });

  let id = 10;
  for (const tool of toolCatalogue.filter((t) => t.scope === 'read')) {
    await run.check('tools', `tools/call ${tool.name}`, async () => {
      if (!listed.some((t) => t.name === tool.name)) throw new Mismatch(`${tool.name} is not in tools/list for this token`);
      const input = exampleInput(tool.inputSchema);
      if ('missing' in input && typeof input.missing === 'string' && Object.keys(input).length === 1) {
        throw new Skip(`the spec has no example for its required input \`${input.missing}\``);
      }
      const result = await rpc(run, mcpUrl, bearer, protocolVersion, {
        id: id++,
        method: 'tools/call',
        params: { name: tool.name, arguments: input },
      });
      const parsed = CallToolResultSchema.safeParse(result);
      expect(parsed.success, `result: ${parsed.success ? '' : zodProblems(parsed.error)}`);
      const call = parsed.data;
      if (call.isError) {
        const meta = isObject(call._meta) ? call._meta['lakehouse-mcp/error'] : undefined;
        const code = isObject(meta) ? meta.code : undefined;
        const text = call.content.find((c) => c.type === 'text');
        expect(typeof code === 'string' && text, `isError result without a text item and an error code in _meta: ${short(call)}`);
        // The example may name an asset this deployment lacks: a well-formed not_found conforms.
        expect(code === 'not_found', `input ${short(input)} failed with ${code}: ${text.type === 'text' ? text.text : ''}`);
        return;
      }
      const validate = toolOutputValidators[tool.name];
      const valid = validate(call.structuredContent);
      const errors = validate.errors ?? [];
      expect(
        valid,
        `structuredContent breaks the output schema: ${errors.map((e) => `${e.instancePath || '(root)'} ${e.message ?? ''} ${short(e.params)}`).join('; ')}`,
      );
    });
  }
  return run.results;
}

// XML 1.0 allows tab, newline, carriage return and U+0020 upwards; anything else below U+0020 is dropped.
const xmlAllowed = (c: string) => c === '\t' || c === '\n' || c === '\r' || c >= ' ';
const xml = (s: string) =>
  [...s]
    .filter(xmlAllowed)
    .join('')
    .replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** JUnit XML: one testsuite per group, one testcase per check. */
export function junitXml(url: string, results: readonly CheckResult[]): string {
  const groups = [...new Set(results.map((r) => r.group))];
  const count = (rs: readonly CheckResult[], o: CheckResult['outcome']) => rs.filter((r) => r.outcome === o).length;
  const secs = (rs: readonly CheckResult[]) => (rs.reduce((t, r) => t + r.ms, 0) / 1000).toFixed(3);
  const suites = groups.map((group) => {
    const rs = results.filter((r) => r.group === group);
    const cases = rs.map((r) => {
      const open = `    <testcase classname="conformance.${xml(group)}" name="${xml(r.name)}" time="${(r.ms / 1000).toFixed(3)}"`;
      if (r.outcome === 'passed') return `${open}/>`;
      const tag =
        r.outcome === 'failed'
          ? `<failure message="${xml(r.message ?? '')}">${xml(r.message ?? '')}</failure>`
          : `<skipped message="${xml(r.message ?? '')}"/>`;
      return `${open}>\n      ${tag}\n    </testcase>`;
    });
    return `  <testsuite name="${xml(group)}" tests="${rs.length}" failures="${count(rs, 'failed')}" errors="0" skipped="${count(rs, 'skipped')}" time="${secs(rs)}">\n${cases.join('\n')}\n  </testsuite>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="lakehouse-mcp conformance ${xml(url)}" tests="${results.length}" failures="${count(results, 'failed')}" errors="0" skipped="${count(results, 'skipped')}" time="${secs(results)}">\n${suites.join('\n')}\n</testsuites>\n`;
}

const USAGE = `usage: lakehouse-mcp conformance <url> [--token <access token> | --client-id <id> --client-secret <secret>] [--junit <file>]
Checks the deployment at <url> (its PUBLIC_URL) against this package's contract; exits 1 on any mismatch.`;

export async function main(argv: string[], out = process.stdout, err = process.stderr): Promise<number> {
  let parsed;
  try {
    parsed = parseCliArgs({
      args: argv,
      allowPositionals: true,
      options: {
        token: { type: 'string' },
        'client-id': { type: 'string' },
        'client-secret': { type: 'string' },
        junit: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    err.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out.write(`${USAGE}\n`);
    return 0;
  }
  const [url] = positionals;
  if (!url || !/^https?:\/\//.test(url) || positionals.length > 1 || Boolean(values['client-id']) !== Boolean(values['client-secret'])) {
    err.write(`${USAGE}\n`);
    return 2;
  }
  const results = await runConformance({
    url,
    token: values.token ?? process.env.LAKEHOUSE_TOKEN,
    clientId: values['client-id'],
    clientSecret: values['client-secret'],
  });
  out.write(`conformance of ${url} to the lakehouse-mcp contract ${contract.info.version}\n`);
  for (const r of results) {
    const mark = r.outcome === 'passed' ? '✓' : r.outcome === 'failed' ? '✗' : '-';
    out.write(`  ${mark} [${r.group}] ${r.name}${r.outcome === 'skipped' ? ` (skipped: ${r.message ?? ''})` : ''}\n`);
    if (r.outcome === 'failed') out.write(`      ${r.message ?? ''}\n`);
  }
  const n = (o: CheckResult['outcome']) => results.filter((r) => r.outcome === o).length;
  out.write(`${results.length} checks: ${n('passed')} passed, ${n('failed')} failed, ${n('skipped')} skipped\n`);
  if (values.junit) {
    fs.mkdirSync(path.dirname(path.resolve(values.junit)), { recursive: true });
    fs.writeFileSync(values.junit, junitXml(url, results));
  }
  return n('failed') > 0 ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
