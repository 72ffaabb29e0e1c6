import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { toolCatalogue } from '../../src/generated/tools.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { serviceToken } from '../helpers/tokens.js';
import { malformedMcpAnswer, postRpc, rowCounts, type Answer } from '../faults/support.js';
import { anyJson, bounded, fromSchema, hostileString, mutated } from './arbitraries.js';

// Fuzzing the MCP endpoint (/v1) with fast-check: JSON-RPC envelopes, tool arguments generated from each
// tool's input schema and then mutated, and the headers a client sends. Each property is bounded in time
// (arbitraries.ts `bounded`) and uses a fixed seed that fast-check prints on failure (FUZZ_SEED to change it).

let app: TestApp;
let writer: string;
let reader: string;

before(async () => {
  // TOOL_CALL_LIMIT off: the fuzzer must reach the tools, not the limit (test/faults/rate-limits.test.ts).
  app = await startTestApp({ TOOL_CALL_LIMIT: '0' });
  writer = await serviceToken(app, 'acme/production', ['read', 'write']);
  reader = await serviceToken(app, 'acme/production', ['read']);
});
after(async () => app?.close());

const METHODS = [
  'initialize',
  'ping',
  'tools/list',
  'tools/call',
  'logging/setLevel',
  'notifications/initialized',
  'notifications/cancelled',
  'resources/list',
  'prompts/get',
  'completion/complete',
];

/** Did the request change nothing? (A JSON-RPC error, an isError result or an HTTP refusal.) */
function refused(answer: Answer): boolean {
  if (answer.status !== 200) return true;
  const body = answer.json as { error?: unknown; result?: { isError?: boolean } } | undefined;
  return Boolean(body?.error) || body?.result?.isError === true;
}

/** The properties every answer of /v1 must have; returns the answer for more checks. */
async function checkedPost(body: unknown, headers: Record<string, string | undefined>): Promise<Answer> {
  const before = await rowCounts(app.database.db);
  const answer = await postRpc(app.url, body, headers);
  assert.ok(answer.status < 500, `5xx: HTTP ${answer.status} ${answer.text.slice(0, 300)}`);
  assert.equal(malformedMcpAnswer(answer), undefined, `${malformedMcpAnswer(answer)}: ${answer.text.slice(0, 300)}`);
  const error = (answer.json as { result?: { _meta?: { 'lakehouse-mcp/error'?: { code?: string } } } } | undefined)?.result?._meta?.[
    'lakehouse-mcp/error'
  ];
  assert.notEqual(error?.code, 'internal_error', `a tool failed internally: ${answer.text.slice(0, 300)}`);
  if (refused(answer))
    assert.deepEqual(await rowCounts(app.database.db), before, `a refused request changed data: ${answer.text.slice(0, 300)}`);
  return answer;
}

async function stillAlive(): Promise<void> {
  const health = await fetch(`${app.url}/healthz`);
  assert.equal(health.status, 200, 'the server still answers /healthz');
}

describe('fuzzing /v1', () => {
  it('answers any JSON-RPC envelope with a well-formed result or error, never a 5xx, and refusals change nothing', async () => {
    const id = fc.oneof(fc.integer(), fc.string({ maxLength: 10 }), fc.constantFrom(null, 1.5, true, {}, []), fc.constant(undefined));
    const envelope = fc.record(
      {
        jsonrpc: fc.oneof({ weight: 4, arbitrary: fc.constant('2.0') }, { weight: 1, arbitrary: anyJson }),
        id,
        method: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...METHODS) }, { weight: 1, arbitrary: anyJson }),
        params: fc.oneof(
          fc.record(
            { name: fc.oneof(fc.constantFrom(...toolCatalogue.map((t) => t.name)), hostileString), arguments: anyJson },
            { requiredKeys: [] },
          ),
          fc.record(
            {
              protocolVersion: fc.oneof(fc.constantFrom('2025-11-25', '2025-06-18', '1999-01-01'), hostileString),
              capabilities: anyJson,
              clientInfo: anyJson,
            },
            { requiredKeys: [] },
          ),
          fc.record(
            { requestId: anyJson, level: fc.oneof(fc.constantFrom('debug', 'info', 'emergency'), hostileString), cursor: anyJson },
            { requiredKeys: [] },
          ),
          anyJson,
        ),
        result: anyJson,
        error: anyJson,
      },
      { requiredKeys: ['jsonrpc'] },
    );
    const body = fc.oneof(
      { weight: 8, arbitrary: envelope },
      { weight: 1, arbitrary: anyJson },
      { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
      { weight: 1, arbitrary: fc.array(envelope, { maxLength: 3 }) },
    );
    const token = fc.constantFrom<string | undefined>(writer, reader, undefined);
    await fc.assert(
      fc.asyncProperty(body, token, async (message, bearer) => {
        await checkedPost(typeof message === 'string' ? message : (JSON.stringify(message) ?? 'null'), {
          authorization: bearer ? `Bearer ${bearer}` : undefined,
        });
      }),
      bounded(4_000),
    );
    await stillAlive();
  });

  it('answers tool arguments generated from each input schema, then mutated, with a result or a typed isError, never internal_error', async () => {
    const call = fc.constantFrom(...toolCatalogue).chain((tool) => mutated(fromSchema(tool.inputSchema)).map((args) => ({ tool, args })));
    let ok = 0;
    let isError = 0;
    await fc.assert(
      fc.asyncProperty(call, fc.integer({ min: 1, max: 1e6 }), async ({ tool, args }, id) => {
        const answer = await checkedPost(
          { jsonrpc: '2.0', id, method: 'tools/call', params: { name: tool.name, arguments: args } },
          { authorization: `Bearer ${writer}` },
        );
        if (refused(answer)) isError++;
        else ok++;
      }),
      bounded(6_000, 1_000),
    );
    // Generated arguments must reach the handlers, not only the validator (checked once there were enough
    // runs: a loaded machine may allow only a few in the time budget).
    if (ok + isError >= 40) assert.ok(ok > 0, `no generated call succeeded (${isError} refused)`);
    await stillAlive();
  });

  it('answers any Origin, Accept, MCP-Protocol-Version and Authorization with a well-formed answer', async () => {
    const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 80 });
    const headers = fc.record(
      {
        origin: fc.oneof(
          fc.constant(app.url),
          fc.constantFrom('null', 'http://evil.example', 'http://localhost', `${app.url}.evil.example`),
          printable,
        ),
        accept: fc.oneof(
          fc.constantFrom(
            'application/json, text/event-stream',
            'application/json',
            'text/event-stream',
            '*/*',
            'application/*;q=0, text/*',
            '',
          ),
          printable,
        ),
        'mcp-protocol-version': fc.oneof(fc.constantFrom('2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', 'latest', ''), printable),
        authorization: fc.oneof(
          fc.constant(`Bearer ${reader}`),
          fc.constantFrom(
            'Bearer',
            'Bearer ',
            'Basic YTpi',
            `bearer  ${reader}`,
            `Bearer ${reader}x`,
            `Bearer ${reader.split('.').slice(0, 2).join('.')}.`,
            `Bearer ${reader.replace(/^./, 'A')}`,
          ),
          printable.map((p) => `Bearer ${p}`),
          printable,
        ),
        'content-type': fc.oneof(
          fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded'),
          printable,
        ),
      },
      { requiredKeys: [] },
    );
    const method = fc.constantFrom('tools/list', 'tools/call', 'ping', 'initialize');
    await fc.assert(
      fc.asyncProperty(headers, method, async (given, name) => {
        const params =
          name === 'tools/call'
            ? { name: 'get_session_context', arguments: {} }
            : name === 'initialize'
              ? { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'fuzz', version: '1' } }
              : {};
        // Headers the generator left out are removed (undefined), not defaulted.
        const all: Record<string, string | undefined> = {
          origin: undefined,
          accept: undefined,
          'mcp-protocol-version': undefined,
          authorization: undefined,
          'content-type': undefined,
          ...given,
        };
        const answer = await checkedPost({ jsonrpc: '2.0', id: 7, method: name, params }, all);
        if (answer.status === 200 && given.origin !== undefined && given.origin !== app.url) {
          assert.fail(`a foreign Origin was served: ${given.origin}`);
        }
      }),
      bounded(3_000),
    );
    await stillAlive();
  });
});
