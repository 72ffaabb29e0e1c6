import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { addMember, createUser } from '../../src/db/directory.js';
import { createServiceAccount } from '../../src/oauth/admin.js';
import { FixedWindowLimiter } from '../../src/http/rate-limit.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { PASSWORD, userTokens } from '../helpers/oauth.js';
import { serviceToken } from '../helpers/tokens.js';
import { answerOf, awayFromMinuteEdge, callTool, malformedOAuthError, malformedProblem, resultOf } from './support.js';

// The limits of README's configuration beyond registration and sign-in (test/integration/oauth/registration.test.ts,
// authorize.test.ts): TOOL_CALL_LIMIT (per environment, per process, in memory) and TOKEN_LIMIT (failed
// token requests per address, shared in Postgres).

describe('FixedWindowLimiter', () => {
  it('admits `limit` calls per key and window, then refuses with the seconds left in the window', () => {
    let now = 120_000 + 15_000;
    const limiter = new FixedWindowLimiter(2, 60_000, () => now);
    assert.deepEqual([limiter.take('a'), limiter.take('a')], [{ ok: true }, { ok: true }]);
    assert.deepEqual(limiter.take('a'), { ok: false, retryAfter: 45, limit: 2 });
    assert.deepEqual(limiter.take('b'), { ok: true }, 'another key has its own budget');
    now = 180_000;
    assert.deepEqual(limiter.take('a'), { ok: true }, 'a new window starts afresh');
  });

  it('is unlimited at 0', () => {
    const limiter = new FixedWindowLimiter(0);
    for (let i = 0; i < 10_000; i++) assert.equal(limiter.take('a').ok, true);
  });
});

describe('rate limits over HTTP', () => {
  let app: TestApp;
  let token: string;
  let other: string;
  let user: Awaited<ReturnType<typeof userTokens>>;
  before(async () => {
    app = await startTestApp({ TOOL_CALL_LIMIT: '3', TOKEN_LIMIT: '3', REGISTRATION_LIMIT: '0', SIGNIN_LIMIT: '0' });
    token = await serviceToken(app, 'acme/production', ['read']);
    other = await serviceToken(app, 'acme/staging', ['read']);
    // A user's refresh token, got before any test fills the token window.
    await createUser(app.database.db, 'lim@example.com', PASSWORD);
    await addMember(app.database.db, 'lim@example.com', { organization: 'acme', environment: 'production' }, 'writer');
    user = await userTokens({ issuer: app.server.config.issuerUrl, url: app.url }, { email: 'lim@example.com' });
  });
  after(async () => app?.close());

  /** tasks/get over MCP 2026-07-28, raw: its JSON-RPC answer. */
  const pollTask = async (bearer: string) => {
    const response = await fetch(`${app.url}/v1`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tasks/get',
        'mcp-name': '00000000-0000-4000-8000-000000000000',
        authorization: `Bearer ${bearer}`,
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tasks/get',
        params: {
          taskId: '00000000-0000-4000-8000-000000000000',
          _meta: {
            'io.modelcontextprotocol/protocolVersion': '2026-07-28',
            'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } },
            'io.modelcontextprotocol/clientInfo': { name: 'poller', version: '1.0.0' },
          },
        },
      }),
    });
    return (await response.json()) as { error?: { code: number; message: string; data?: { code?: string } } };
  };

  it('refuses tool calls over TOOL_CALL_LIMIT per environment: isError rate_limited on MCP, 429 + Retry-After on REST', async () => {
    // The window is the clock minute: on a slow machine four calls can straddle two windows, so a sequence
    // that did is tried once more.
    let refused: ReturnType<typeof resultOf> | undefined;
    let poll: Awaited<ReturnType<typeof pollTask>> | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      await awayFromMinuteEdge();
      const minute = Math.floor(Date.now() / 60_000);
      for (let i = 0; i < 3; i++) {
        const ok = resultOf(await callTool(app.url, token, 'get_session_context', {}, i));
        assert.notEqual(ok.isError, true);
      }
      refused = resultOf(await callTool(app.url, token, 'get_session_context', {}, 9));
      poll = await pollTask(token);
      if (Math.floor(Date.now() / 60_000) === minute) break;
      await awayFromMinuteEdge(60_000); // into the next minute, whose budget is fresh
    }
    assert.ok(refused);
    assert.equal(refused.isError, true);
    assert.equal(refused._meta?.['lakehouse-mcp/error']?.code, 'rate_limited');
    assert.ok((refused._meta?.['lakehouse-mcp/error']?.retry_after ?? 0) >= 1);
    assert.match(refused.content?.[0]?.text ?? '', /TOOL_CALL_LIMIT.*per server process.*Retry in \d+ s/);
    // A poll of the tasks extension (2026-07-28) is a call of the job's view: refused the same way.
    assert.equal(poll?.error?.data?.code, 'rate_limited', JSON.stringify(poll));
    assert.match(poll?.error?.message ?? '', /TOOL_CALL_LIMIT/);

    const rest = await answerOf(await fetch(`${app.url}/api/v1/session`, { headers: { authorization: `Bearer ${token}` } }));
    assert.equal(rest.status, 429);
    assert.equal(malformedProblem(rest), undefined);
    assert.equal((rest.json as { code: string }).code, 'rate_limited');
    assert.ok(Number(rest.headers.get('retry-after')) >= 1);

    // Another environment has its own budget.
    assert.notEqual(resultOf(await callTool(app.url, other, 'get_session_context', {}, 10)).isError, true);
    const ok = await fetch(`${app.url}/api/v1/session`, { headers: { authorization: `Bearer ${other}` } });
    assert.equal(ok.status, 200);
  });

  it('refuses token requests from an address after TOKEN_LIMIT failures, with 429 + Retry-After, counted in Postgres', async () => {
    const account = await createServiceAccount(app.database.db, { organization: 'acme', environment: 'production' }, 'limit test', [
      'read',
    ]);
    const post = async (secret: string) =>
      answerOf(
        await fetch(`${app.url}/oauth/token`, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            authorization: `Basic ${Buffer.from(`${account.client_id}:${secret}`).toString('base64')}`,
          },
          body: new URLSearchParams({ grant_type: 'client_credentials' }),
        }),
      );
    await awayFromMinuteEdge();
    // Successes never count.
    for (let i = 0; i < 4; i++) assert.equal((await post(account.client_secret)).status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await post('wrong')).status, 401);
    const limited = await post(account.client_secret);
    assert.equal(limited.status, 429);
    assert.equal(malformedOAuthError(limited), undefined);
    assert.equal((limited.json as { error: string }).error, 'temporarily_unavailable');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    const counter = await app.database.db
      .selectFrom('rate_limit_counters')
      .select('hits')
      .where('key', 'like', 'token:%')
      .executeTakeFirstOrThrow();
    assert.equal(counter.hits, 3);
  });

  it('refuses a refresh from an address over TOKEN_LIMIT with 429 before it touches the refresh token', async () => {
    const tokenUrl = `${app.server.config.issuerUrl}/oauth/token`;
    const refresh = async (refreshToken: string, clientId = user.clientId) =>
      answerOf(
        await fetch(tokenUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId }),
        }),
      );
    await awayFromMinuteEdge();
    // Fill this minute's window with failed refreshes (the test before may have filled it already).
    for (let i = 0; i < 3; i++) {
      const failed = await refresh(`not a refresh token ${i}`);
      if (failed.status === 429) break;
      assert.equal(failed.status, 400);
    }
    const limited = await refresh(user.refreshToken);
    assert.equal(limited.status, 429);
    assert.equal(malformedOAuthError(limited), undefined);
    assert.equal((limited.json as { error: string }).error, 'temporarily_unavailable');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    const stored = await app.database.db
      .selectFrom('oauth_refresh_tokens')
      .select('used_at')
      .where('token_hash', '=', createHash('sha256').update(user.refreshToken).digest())
      .executeTakeFirstOrThrow();
    assert.equal(stored.used_at, null, 'the refused refresh did not rotate the token');
    // Whatever else is wrong with a request from a full window, it is answered 429 (and not counted).
    assert.equal((await refresh(user.refreshToken, 'no such client')).status, 429);
    const counter = await app.database.db
      .selectFrom('rate_limit_counters')
      .select('hits')
      .where('key', 'like', 'token:%')
      .orderBy('window_start', 'desc')
      .executeTakeFirstOrThrow();
    assert.equal(counter.hits, 3);
  });
});
