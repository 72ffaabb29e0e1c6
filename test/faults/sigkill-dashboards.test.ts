import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { createEnvironment, createOrganization } from '../../src/db/directory.js';
import { installId } from '../../src/lakehouse/provision.js';
import { createServiceAccount } from '../../src/oauth/admin.js';
import { createTestDatabase, noteInstallId, type TestDatabase } from '../helpers/db.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { answerOf, callTool, eventually, resultOf, type Answer } from './support.js';

// The server is killed with SIGKILL in the middle of concurrent create_dashboard calls (issue 9, faults).
// A dashboard and its widgets are written in one transaction with the call's idempotency record
// (src/assets/idempotency.ts createOnce), so after a restart on the same database:
// - no half-written asset: every dashboard holds exactly the widgets its call gave (specs/tools/create_dashboard.yaml:
//   `widgets` in, `widget_count` out), no widget lacks its dashboard, no idempotency record lacks its result;
// - retrying every call with its own idempotency_key yields exactly one dashboard per key, and a call that had
//   been answered before the kill gets the same dashboard back.

const SECRET_KEY = Buffer.alloc(32, 11).toString('base64');
/** Names the server's own main-pool connections in pg_stat_activity (node-pg reads PGAPPNAME). */
const APP_NAME = 'sigkill-dashboards-server';
const CALLS = 160;
const IN_FLIGHT = 24;
/** SIGKILL once this many calls were answered: some committed, many still in flight. */
const KILL_AFTER = 25;
const INSIGHTS = 4;

interface Server extends ServerProcess {
  url: string;
}

async function startServer(databaseUrl: string): Promise<Server> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: '0',
    DATABASE_URL: databaseUrl,
    SECRET_KEY,
    LOG_LEVEL: 'warn',
    TOOL_CALL_LIMIT: '0',
    PGAPPNAME: APP_NAME,
  };
  for (const name of ['PUBLIC_URL', 'ISSUER_URL', 'DATA_DIR', 'HOST']) delete env[name];
  const started = await startServerProcess(env);
  return { ...started, url: `http://localhost:${started.port}` };
}

async function stopServer(server: Server | undefined): Promise<void> {
  if (!server || server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill('SIGTERM');
  await server.exited;
}

async function writeToken(url: string, clientId: string, clientSecret: string): Promise<string> {
  const response = await fetch(`${url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
  });
  const body = (await response.json()) as { access_token?: string };
  assert.ok(body.access_token, `client_credentials failed: ${JSON.stringify(body)}`);
  return body.access_token;
}

interface WidgetInput {
  insight_id: string;
  x: number;
  y: number;
  w: number;
  h: number;
}
interface DashboardInput {
  title: string;
  description: string;
  widgets: WidgetInput[];
  idempotency_key: string;
}
interface Summary {
  id: string;
  title: string;
  widget_count: number;
}

/** Call `i`: 1 to 6 widgets over the insights, a title naming its key; even calls over MCP, odd over REST. */
function dashboardInput(i: number, insightIds: string[]): DashboardInput {
  const widgets = Array.from({ length: 1 + (i % 6) }, (_, j) => ({
    insight_id: insightIds[(i + j) % insightIds.length] ?? '',
    x: (j % 3) * 4,
    y: Math.floor(j / 3) * 3,
    w: 4,
    h: 3,
  }));
  const key = `sigkill-${i}`;
  return { title: `dashboard ${key}`, description: `written while the server may be killed (${key})`, widgets, idempotency_key: key };
}

/** create_dashboard over MCP (even i) or REST (odd i): the summary, or the failure as an Error. */
async function createDashboard(url: string, token: string, i: number, input: DashboardInput): Promise<Summary> {
  let answer: Answer;
  if (i % 2 === 0) {
    answer = await callTool(url, token, 'create_dashboard', input, i);
    const result = resultOf(answer);
    if (result.isError) throw new Error(`create_dashboard ${input.idempotency_key} over MCP: ${result.content?.[0]?.text ?? '?'}`);
    return result.structuredContent as unknown as Summary;
  }
  answer = await answerOf(
    await fetch(`${url}/api/v1/dashboards`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(input),
    }),
  );
  if (answer.status >= 300)
    throw new Error(`POST /api/v1/dashboards ${input.idempotency_key}: HTTP ${answer.status} ${answer.text.slice(0, 300)}`);
  return answer.json as Summary;
}

describe('the server is killed with SIGKILL during writes of dashboards with widgets', () => {
  let database: TestDatabase;
  let server: Server | undefined;
  let account: { client_id: string; client_secret: string };
  let databaseUrl: string;

  before(async () => {
    database = await createTestDatabase();
    noteInstallId(database.name, await installId(database.db));
    await createOrganization(database.db, 'acme');
    await createEnvironment(database.db, { organization: 'acme', environment: 'production' });
    account = await createServiceAccount(database.db, { organization: 'acme', environment: 'production' }, 'sigkill', ['read', 'write']);
    databaseUrl = database.url;
  });

  after(async () => {
    await stopServer(server);
    await database?.drop();
  });

  /** Backends of the server's main pool still inside a transaction or a statement. */
  async function busyServerBackends(): Promise<number> {
    const { rows } = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = ${APP_NAME} AND state <> 'idle'`.execute(
      database.db,
    );
    return rows[0]?.n ?? 0;
  }

  it(
    'leaves no half-written dashboard, and a retry with the same idempotency_key yields exactly one per key',
    { timeout: 240_000 },
    async () => {
      server = await startServer(databaseUrl);
      let token = await writeToken(server.url, account.client_id, account.client_secret);

      const insightIds: string[] = [];
      for (let n = 0; n < INSIGHTS; n++) {
        const answer = await callTool(server.url, token, 'create_insight', {
          title: `insight ${n}`,
          sql: `SELECT plan, count(*) AS users FROM users WHERE user_id % ${n + 2} = 0 GROUP BY plan`,
          connection: 'sample',
          chart: { kind: 'bar', x: 'plan', y: 'users' },
        });
        const result = resultOf(answer);
        assert.notEqual(result.isError, true, answer.text);
        insightIds.push(String(result.structuredContent?.id));
      }
      const inputs = Array.from({ length: CALLS }, (_, i) => dashboardInput(i, insightIds));

      // Concurrent calls until KILL_AFTER answers, then SIGKILL with the others in flight.
      const first = new Map<number, Summary>();
      const failed = new Map<number, string>();
      let next = 0;
      let inFlight = 0;
      let inFlightAtKill = -1;
      const victim = server;
      const worker = async () => {
        while (next < CALLS && inFlightAtKill < 0) {
          const i = next++;
          const input = inputs[i];
          if (!input) break;
          inFlight++;
          try {
            first.set(i, await createDashboard(victim.url, token, i, input));
          } catch (error) {
            failed.set(i, error instanceof Error ? error.message : String(error));
          } finally {
            inFlight--;
          }
          if (first.size >= KILL_AFTER && inFlightAtKill < 0) {
            inFlightAtKill = inFlight;
            victim.child.kill('SIGKILL');
          }
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
      await victim.exited;
      assert.equal(victim.child.signalCode, 'SIGKILL', 'the server was killed, not stopped by itself');
      const sent = next;
      process.stderr.write(
        `sigkill: ${sent} calls sent, ${first.size} answered, ${failed.size} failed, ${inFlightAtKill} in flight at the kill\n`,
      );
      assert.ok(inFlightAtKill > 0, 'calls were in flight when the server was killed');
      assert.ok(failed.size > 0, 'some calls were cut by the kill');
      // The kill cut only the calls, nothing before it failed for another reason.
      for (const message of failed.values()) assert.doesNotMatch(message, /HTTP \d|over MCP/, message);

      // PostgreSQL ends the killed process's sessions (rolling back whatever they had not committed).
      await eventually(async () => (await busyServerBackends()) === 0, 15_000, "the killed server's transactions to end");

      // No half-written asset, before any retry: what the crash left behind is whole or absent.
      const checkWhole = async (stage: string) => {
        const { rows: dashboards } = await sql<{ id: string; title: string; widgets: number }>`
        SELECT d.id, d.title, (SELECT count(*)::int FROM dashboard_widgets w WHERE w.environment_id = d.environment_id AND w.dashboard_id = d.id) AS widgets
        FROM dashboards d`.execute(database.db);
        for (const d of dashboards) {
          const i = Number(/sigkill-(\d+)$/.exec(d.title)?.[1]);
          const input = inputs[i];
          assert.ok(input, `${stage}: a dashboard of an unknown call: ${d.title}`);
          assert.equal(d.widgets, input.widgets.length, `${stage}: ${d.title} holds ${d.widgets} of its ${input.widgets.length} widgets`);
        }
        const { rows: orphans } = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM dashboard_widgets w
        WHERE NOT EXISTS (SELECT 1 FROM dashboards d WHERE d.environment_id = w.environment_id AND d.id = w.dashboard_id)`.execute(
          database.db,
        );
        assert.equal(orphans[0]?.n, 0, `${stage}: widgets without their dashboard`);
        const { rows: keys } = await sql<{ key: string; id: string | null }>`
        SELECT key, result->>'id' AS id FROM idempotency_keys WHERE tool = 'create_dashboard'`.execute(database.db);
        for (const k of keys) {
          assert.ok(k.id, `${stage}: the idempotency record ${k.key} has no result`);
          assert.ok(
            dashboards.some((d) => d.id === k.id && d.title === `dashboard ${k.key}`),
            `${stage}: the idempotency record ${k.key} answers a dashboard that is not there`,
          );
        }
        // One dashboard per recorded key and no dashboard without its key's record.
        assert.equal(dashboards.length, keys.length, `${stage}: ${dashboards.length} dashboards for ${keys.length} idempotency records`);
        return { dashboards: dashboards.length };
      };
      const afterCrash = await checkWhole('after the kill');
      process.stderr.write(
        `sigkill: ${afterCrash.dashboards} whole dashboards after the kill (${afterCrash.dashboards - first.size} committed but unanswered)\n`,
      );
      // Every answered call committed: its dashboard is there.
      assert.ok(afterCrash.dashboards >= first.size, `${afterCrash.dashboards} dashboards for ${first.size} answered calls`);

      // Restart on the same database (another port: a new token, audience-bound to the new URL) and retry
      // every call that was sent, with its own key and input.
      server = await startServer(databaseUrl);
      token = await writeToken(server.url, account.client_id, account.client_secret);
      const restarted = server;
      const retried = new Map<number, Summary>();
      let cursor = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (cursor < sent) {
            const i = cursor++;
            const input = inputs[i];
            if (!input) continue;
            retried.set(i, await createDashboard(restarted.url, token, i, input));
          }
        }),
      );
      for (let i = 0; i < sent; i++) {
        const summary = retried.get(i);
        const input = inputs[i];
        assert.ok(summary && input, `call ${i} was retried`);
        assert.equal(summary.title, input.title);
        assert.equal(summary.widget_count, input.widgets.length, `the retry of ${input.idempotency_key} answers all its widgets`);
        const original = first.get(i);
        if (original)
          assert.equal(summary.id, original.id, `the retry of ${input.idempotency_key} answers the dashboard created before the kill`);
      }

      // Exactly one dashboard per key, each whole, with the widgets it was given in order.
      await checkWhole('after the retries');
      const { rows: perKey } = await sql<{
        title: string;
        n: number;
      }>`SELECT title, count(*)::int AS n FROM dashboards GROUP BY title`.execute(database.db);
      assert.equal(perKey.length, sent, `${perKey.length} distinct dashboards for ${sent} keys`);
      for (const row of perKey) assert.equal(row.n, 1, `${row.title}: ${row.n} dashboards for one key`);
      const { rows: widgets } = await sql<{
        title: string;
        position: number;
        insight_id: string;
        x: number;
        y: number;
        w: number;
        h: number;
      }>`
      SELECT d.title, w.position, w.insight_id, w.x, w.y, w.w, w.h
      FROM dashboard_widgets w JOIN dashboards d ON d.environment_id = w.environment_id AND d.id = w.dashboard_id
      ORDER BY d.title, w.position`.execute(database.db);
      for (const w of widgets) {
        const input = inputs[Number(/sigkill-(\d+)$/.exec(w.title)?.[1])];
        assert.deepEqual(
          { insight_id: w.insight_id, x: w.x, y: w.y, w: w.w, h: w.h },
          input?.widgets[w.position],
          `${w.title} widget ${w.position}`,
        );
      }

      // The server is healthy after all that.
      assert.equal((await fetch(`${restarted.url}/readyz`)).status, 200);
    },
  );
});
