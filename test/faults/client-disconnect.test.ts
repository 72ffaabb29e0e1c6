import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { serviceToken } from '../helpers/tokens.js';
import { callTool, eventually } from './support.js';

// A client that hangs up in the middle of a long query: the statement must not run on in PostgreSQL
// (pg_stat_activity shows it gone), over MCP and over REST.

let app: TestApp;
let token: string;
before(async () => {
  app = await startTestApp({ TOOL_CALL_LIMIT: '0' });
  token = await serviceToken(app, 'acme/production', ['read']);
});
after(async () => app?.close());

// Minutes of work on the sample data, unless cancelled. The marker names this test's statement.
const slowSql = (marker: string) =>
  `SELECT count(*) AS n, '${marker}' AS marker FROM events a CROSS JOIN events b WHERE a.event_id + b.event_id < 0`;

async function runningStatements(marker: string): Promise<number> {
  const { rows } = await sql<{
    n: number;
  }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE ${`%${marker}%`} AND pid <> pg_backend_pid()`.execute(
    app.database.db,
  );
  return rows[0]?.n ?? 0;
}

async function hangUpDuring(marker: string, send: (signal: AbortSignal) => Promise<unknown>): Promise<void> {
  const controller = new AbortController();
  const request = send(controller.signal).catch((error: unknown) => error);
  await eventually(async () => (await runningStatements(marker)) > 0, 20_000, 'the statement to start');
  const cut = Date.now();
  controller.abort();
  await request;
  await eventually(async () => (await runningStatements(marker)) === 0, 15_000, 'the statement to be cancelled');
  process.stderr.write(`client disconnect (${marker}): statement gone ${Date.now() - cut} ms after the hang-up\n`);
}

describe('a client disconnects in the middle of a long query', () => {
  it('cancels the statement in Postgres when an MCP client hangs up', async () => {
    await hangUpDuring('mcp_hangup', (signal) =>
      callTool(app.url, token, 'query_lakehouse', { sql: slowSql('mcp_hangup'), connection: 'sample', timeout_ms: 60_000 }, 1, signal),
    );
  });

  it('cancels the statement in Postgres when a REST client hangs up', async () => {
    await hangUpDuring('rest_hangup', (signal) =>
      fetch(`${app.url}/api/v1/lakehouse/query`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ sql: slowSql('rest_hangup'), connection: 'sample', timeout_ms: 60_000 }),
        signal,
      }),
    );
    // The server is fine afterwards.
    assert.equal((await fetch(`${app.url}/healthz`)).status, 200);
  });
});
