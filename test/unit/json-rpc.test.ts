import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  CallToolRequestParamsSchema,
  CancelledNotificationParamsSchema,
  InitializeRequestParamsSchema,
  JSONRPCMessageSchema,
  LoggingLevelSchema,
  SetLevelRequestParamsSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
} from '@modelcontextprotocol/sdk/types.js';
import {
  asJsonRpcMessage,
  callToolParams,
  cancelledParams,
  initializeParams,
  LOGGING_LEVELS,
  setLevelParams,
} from '../../src/mcp/json-rpc.js';
import { PROTOCOL_VERSIONS } from '../../src/mcp/protocol.js';
import { bounded } from '../fuzz/arbitraries.js';

// The server checks JSON-RPC messages without the SDK's zod schemas (they cost a tenth of its start-up). Its
// checks must give the SDK's verdict on every message: here both judge the same messages, written and random.

const ids = [1, 0, -5, 'a', '', 1.5, 2 ** 53, null, true, [], {}];
const paramsValues = [
  undefined,
  {},
  { x: 1 },
  { _meta: {} },
  { _meta: { progressToken: 'p' } },
  { _meta: { progressToken: 1.5 } },
  { _meta: 3 },
  [],
  null,
  'p',
];

function* messages(): Generator<unknown> {
  yield* [null, 1, 'x', [], {}, { jsonrpc: '2.0' }, { jsonrpc: '1.0', id: 1, method: 'ping' }, { jsonrpc: 2, id: 1, method: 'ping' }];
  for (const params of paramsValues) {
    const p = params === undefined ? {} : { params };
    yield { jsonrpc: '2.0', method: 'notifications/initialized', ...p };
    yield { jsonrpc: '2.0', method: 7, ...p };
    for (const id of ids) yield { jsonrpc: '2.0', id, method: 'tools/list', ...p };
  }
  for (const id of [...ids, undefined]) {
    yield { jsonrpc: '2.0', id, result: {} };
    yield { jsonrpc: '2.0', id, result: { _meta: { progressToken: [] } } };
    yield { jsonrpc: '2.0', id, error: { code: -32600, message: 'x' } };
    yield { jsonrpc: '2.0', id, error: { code: 1.5, message: 'x' } };
    yield { jsonrpc: '2.0', id, error: { code: 1 } };
  }
  yield { jsonrpc: '2.0', id: 1, method: 'ping', extra: 1 };
  yield { jsonrpc: '2.0', method: 'x', id: 1, result: {} };
  yield { jsonrpc: '2.0', id: 1, result: [] };
  yield { jsonrpc: '2.0', id: 1, result: {}, error: { code: 1, message: 'x' } };
  yield JSON.parse('{"jsonrpc":"2.0","id":1,"method":"ping","__proto__":{"x":1}}');
}

const sdkAccepts = (schema: { safeParse(value: unknown): { success: boolean } }, value: unknown) => schema.safeParse(value).success;

describe('JSON-RPC checks without the SDK', () => {
  it('accept exactly the messages the SDK accepts', () => {
    for (const message of messages()) {
      assert.equal(asJsonRpcMessage(message) !== undefined, sdkAccepts(JSONRPCMessageSchema, message), JSON.stringify(message));
    }
  });

  it('agree with the SDK on random message-like values', () => {
    const id = fc.oneof(fc.integer(), fc.string(), fc.double(), fc.constant(null));
    const meta = fc.oneof(fc.constant(undefined), fc.record({ progressToken: id }, { requiredKeys: [] }), fc.jsonValue());
    const params = fc.oneof(fc.constant(undefined), fc.record({ _meta: meta, name: fc.string() }, { requiredKeys: [] }), fc.jsonValue());
    const message = fc.record(
      {
        jsonrpc: fc.constantFrom('2.0', '2', 2),
        id,
        method: fc.oneof(fc.string(), fc.integer()),
        params,
        result: fc.oneof(fc.object(), fc.jsonValue()),
        error: fc.oneof(fc.record({ code: fc.oneof(fc.integer(), fc.double()), message: fc.string() }), fc.jsonValue()),
        extra: fc.jsonValue(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(message, fc.jsonValue()), (value) => {
        assert.equal(asJsonRpcMessage(value) !== undefined, sdkAccepts(JSONRPCMessageSchema, value), JSON.stringify(value));
      }),
      bounded(4_000, 2_000),
    );
  });

  it('check the params of initialize, tools/call, logging/setLevel and notifications/cancelled as the SDK does', () => {
    const cases: [(params: unknown) => { ok: boolean }, { safeParse(value: unknown): { success: boolean } }, unknown[]][] = [
      [
        initializeParams,
        InitializeRequestParamsSchema,
        [
          { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'c', version: '1' } },
          { protocolVersion: 1, capabilities: {}, clientInfo: { name: 'c', version: '1' } },
          { protocolVersion: '2025-06-18', capabilities: [], clientInfo: { name: 'c', version: '1' } },
          { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'c' } },
          { protocolVersion: '2025-06-18', capabilities: {} },
          undefined,
          [],
        ],
      ],
      [
        callToolParams,
        CallToolRequestParamsSchema,
        [
          { name: 'query_lakehouse' },
          { name: 'q', arguments: { sql: 'SELECT 1' } },
          { name: 'q', arguments: [] },
          { name: 'q', arguments: 'x' },
          { name: 1 },
          { name: 'q', _meta: { progressToken: 'p' } },
          { name: 'q', _meta: { progressToken: {} } },
          { name: 'q', task: { ttl: 1000 } },
          { name: 'q', task: 'x' },
          {},
          undefined,
        ],
      ],
      [setLevelParams, SetLevelRequestParamsSchema, [{ level: 'info' }, { level: 'loud' }, {}, undefined]],
      [
        cancelledParams,
        CancelledNotificationParamsSchema,
        [{ requestId: 1 }, { requestId: 'a', reason: 'r' }, { requestId: 1.5 }, { reason: 3 }, {}, undefined],
      ],
    ];
    for (const [ours, sdk, values] of cases) {
      for (const value of values) assert.equal(ours(value).ok, sdkAccepts(sdk, value), `${ours.name}(${JSON.stringify(value)})`);
    }
  });

  it('name the same log levels, in order, and every protocol version the server offers is one the SDK knows', () => {
    assert.deepEqual([...LOGGING_LEVELS], LoggingLevelSchema.options);
    for (const version of PROTOCOL_VERSIONS) assert.ok(SUPPORTED_PROTOCOL_VERSIONS.includes(version), version);
  });
});
