import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { serviceToken } from '../helpers/tokens.js';
import { callTool, eventually } from './support.js';

// A client that hangs up in the middle of a long query: the statement must not run on in the environment's
// DuckDB worker, over MCP and over REST. The worker runs one statement at a time, so the proof is the next one:
// a quick query of the same environment is answered at once, long before the slow one could have finished.

let app: TestApp;
let token: string;
before(async () => {
  app = await startTestApp({ TOOL_CALL_LIMIT: '0' });
  token = await serviceToken(app, 'acme/production', ['read']);
});
after(async () => app?.close());

// Minutes of work on the sample data, unless cancelled.
const SLOW_SQL = 'SELECT count(*) AS n FROM events a CROSS JOIN events b WHERE a.event_id + b.event_id < 0';

/** Whether the environment's worker is free: a quick query answers within `ms`. */
async function workerFree(ms: number): Promise<boolean> {
  const started = Date.now();
  const answer = await callTool(app.url, token, 'query_lakehouse', { sql: 'SELECT 1 AS ok', timeout_ms: 60_000 }, 7);
  return JSON.stringify(answer).includes('"ok"') && Date.now() - started < ms;
}

async function hangUpDuring(what: string, send: (signal: AbortSignal) => Promise<unknown>): Promise<void> {
  const controller = new AbortController();
  const request = send(controller.signal).catch((error: unknown) => error);
  // The slow statement is running once a quick one has to wait behind it.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const cut = Date.now();
  controller.abort();
  await request;
  await eventually(async () => workerFree(5_000), 15_000, 'the environment to answer again');
  process.stderr.write(`client disconnect (${what}): the environment answered ${Date.now() - cut} ms after the hang-up\n`);
}

describe('a client disconnects in the middle of a long query', () => {
  it('cancels the statement in the worker when an MCP client hangs up', async () => {
    await hangUpDuring('mcp', (signal) => callTool(app.url, token, 'query_lakehouse', { sql: SLOW_SQL, timeout_ms: 60_000 }, 1, signal));
  });

  it('cancels the statement in the worker when a REST client hangs up', async () => {
    await hangUpDuring('rest', (signal) =>
      fetch(`${app.url}/api/v1/lakehouse/query`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ sql: SLOW_SQL, timeout_ms: 60_000 }),
        signal,
      }),
    );
    // The server is fine afterwards.
    assert.equal((await fetch(`${app.url}/healthz`)).status, 200);
  });
});
