import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { makeDataDir, removeDataDir } from '../../helpers/db.js';
import { npmScriptArgs } from '../../helpers/npm-script.js';
import { runCli, singleJson } from '../cli/run-cli.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
/** What `npm start` runs: the compiled server in dist/ (test/run.ts builds it when src/ changed). */
const NPM_START = npmScriptArgs('start');

interface Started {
  child: ChildProcess;
  url: string;
  stdout: string[];
  exited: Promise<number | null>;
}

/** `npm start` as a user runs it, on a free port and its own DATA_DIR. */
async function start(dataDir: string): Promise<Started> {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
  delete env.DATABASE_URL;
  const child = spawn(process.execPath, NPM_START, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "ready" line within 60 s; stderr:\n${stderr}`)), 60_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout.push(...chunk.toString().split('\n'));
      const ready = stdout.find((line) => line.startsWith('ready '));
      if (ready) {
        clearTimeout(timer);
        resolve(ready.slice('ready '.length));
      }
    });
    void exited.then((code) => reject(new Error(`exited with ${code} before ready; stderr:\n${stderr}`)));
  });
  return { child, url, stdout, exited };
}

/**
 * What the other tests run through tsx, once through the bundle users run (dist/bundle/): the admin CLI, a token,
 * a query in a DuckDB worker process, a request refused by the precompiled validators, a chart (the lazily loaded
 * chart code) and an MCP tool call.
 */
async function usesTheBundleEndToEnd(url: string, dataDir: string): Promise<void> {
  const admin = async (...args: string[]) => {
    const result = await runCli([...args, '--json'], { DATA_DIR: dataDir });
    assert.equal(result.code, 0, result.stderr);
    return singleJson(result);
  };
  await admin('org', 'create', 'bundle');
  await admin('env', 'create', 'bundle/check');
  const { service_account: account } = (await admin(
    'service-account',
    'create',
    'bundle/check',
    '--name',
    'e2e',
    '--scopes',
    'read,write',
  )) as {
    service_account: { client_id: string; client_secret: string };
  };
  const issued = await fetch(`${url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: account.client_id, client_secret: account.client_secret }),
  });
  assert.equal(issued.status, 200);
  const { access_token: token } = (await issued.json()) as { access_token: string };
  const api = (method: string, route: string, body?: unknown) =>
    fetch(`${url}${route}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  const sql = "SELECT event, count(*) AS n FROM events WHERE event IN ('signup', 'purchase') GROUP BY event ORDER BY event";
  const queried = await api('POST', '/api/v1/lakehouse/query', { sql, connection: 'sample' });
  assert.equal(queried.status, 200);
  const { rows } = (await queried.json()) as { rows: [string, number][] };
  assert.deepEqual(
    rows.map(([event]) => event),
    ['purchase', 'signup'],
  );
  assert.ok(rows.every(([, n]) => Number(n) > 0));

  const refused = await api('POST', '/api/v1/lakehouse/query', { sql, limit: 'all' });
  assert.equal(refused.status, 400);
  assert.equal(((await refused.json()) as { code: string }).code, 'validation_failed');

  const created = await api('POST', '/api/v1/insights', {
    title: 'Signups and purchases',
    sql,
    connection: 'sample',
    chart: { kind: 'bar', x: 'event', y: 'n' },
  });
  assert.equal(created.status, 200, await created.clone().text());
  const { id } = (await created.json()) as { id: string };
  const rendered = await api('POST', `/api/v1/insights/${id}/render`, {});
  assert.equal(rendered.status, 200, await rendered.clone().text());
  assert.match(JSON.stringify(await rendered.json()), /svg|png/i);

  const called = await fetch(`${url}/v1`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_session_context', arguments: {} } }),
  });
  assert.equal(called.status, 200);
  assert.match(await called.text(), /bundle\/check|"check"/);
}

describe('npm start', () => {
  it('runs compiled JavaScript, never TypeScript through tsx', async () => {
    assert.ok(!NPM_START.some((arg) => arg.includes('tsx') || arg.endsWith('.ts')), NPM_START.join(' '));
    assert.doesNotMatch(await fs.readFile(path.join(ROOT, NPM_START[0] ?? ''), 'utf8'), /tsx|\.ts'/);
  });

  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await removeDataDir(dir);
  });

  it('prints the MCP URL and "ready <PUBLIC_URL>", serves /healthz, and stops its PostgreSQL on SIGINT', async () => {
    const dataDir = await makeDataDir('lakehouse-start-');
    dirs.push(dataDir);
    const first = await start(dataDir);
    assert.match(first.url, /^http:\/\/localhost:\d+$/);
    assert.ok(
      first.stdout.some((line) => line.includes(`${first.url}/v1`)),
      first.stdout.join('\n'),
    );
    assert.ok(first.stdout.some((line) => line.includes('npm run admin -- user create')));
    const health = await fetch(`${first.url}/healthz`);
    assert.deepEqual(await health.json(), { status: 'ok' });
    await usesTheBundleEndToEnd(first.url, dataDir);

    first.child.kill('SIGINT');
    assert.equal(await first.exited, 0);
    const pidFile = path.join(await fs.realpath(path.join(dataDir, 'postgres')), 'postmaster.pid');
    await assert.rejects(fs.access(pidFile), 'the embedded PostgreSQL was stopped');

    // A second start reuses the data directory.
    const second = await start(dataDir);
    assert.equal((await fetch(`${second.url}/readyz`)).status, 200);
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
  });

  it('refuses a bad configuration with one clear line and a non-zero exit', async () => {
    const child = spawn(process.execPath, NPM_START, {
      cwd: ROOT,
      env: { ...process.env, PORT: 'eighty', DATABASE_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 1);
    assert.equal(stderr.trim(), 'configuration error: PORT must be a whole number >= 0, got "eighty"');
  });
});
