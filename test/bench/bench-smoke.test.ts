import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { installId } from '../../src/lakehouse/provision.js';
import { createTestDatabase, noteInstallId } from '../helpers/db.js';

// `npm run bench -- --smoke` end to end (a second per run, one round, no targets), so that the benchmark
// cannot rot: every scenario runs against our server (on a copy of the test template; the bench generates a
// small sample, 200,000 events, in its own SAMPLE_DIR and copies it into that database for the PostgreSQL
// baselines) and the baselines, the analytics scenario's six questions answer the same on the three paths,
// and the JSON names every figure.

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('npm run bench (smoke)', () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bench-smoke-')), 'smoke.json');
  after(() => fs.rmSync(path.dirname(out), { recursive: true, force: true }));

  it('runs every scenario against ours and the baselines and writes every figure', { timeout: 120_000 }, async () => {
    const database = await createTestDatabase();
    noteInstallId(database.name, await installId(database.db));
    try {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'bench/run.ts', '--smoke', '--quiet', '--database-url', database.url, '--out', out],
        {
          cwd: ROOT,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      assert.equal(code, 0, output);

      const results = JSON.parse(fs.readFileSync(out, 'utf8')) as {
        machine: { cores: number; node: string };
        scenarios: Record<string, { medians?: Record<string, { rps: number; p50: number; errors: number }> } & Record<string, unknown>>;
        targets: { scenario: number | string; value: number }[];
        sampleGeneration: { events: number; ms: number };
        postgresCopy: { loadMs: number; rows: Record<string, number> };
      };
      assert.equal(results.machine.node, process.version);
      assert.ok(results.machine.cores >= 1);
      const {
        s1_session_context: s1,
        s2_point_query: s2,
        s3_capped_query: s3,
        s4_token_endpoint: s4,
        s5_tools_list: s5,
        s6_startup: s6,
        s7_huge_values: s7,
        analytics,
      } = results.scenarios;
      for (const server of ['ours', 'modern', 'reference', 'limit']) {
        assert.ok((s1?.medians?.[server]?.rps ?? 0) > 0, `scenario 1 ${server}`);
        assert.equal(s1?.medians?.[server]?.errors, 0, `scenario 1 ${server} errors`);
      }
      for (const path of ['ours', 'floor', 'pg', 'limit']) assert.ok((s2?.medians?.[path]?.rps ?? 0) > 0, `scenario 2 ${path}`);
      assert.equal(s2?.medians?.ours?.errors, 0, 'scenario 2 errors');
      assert.ok(Number(s3?.timeMs) > 0, 'scenario 3');
      assert.ok((s4?.medians?.refresh?.rps ?? 0) > 0 && (s4?.medians?.clientCredentials?.rps ?? 0) > 0, 'scenario 4');
      assert.equal(s4?.medians?.refresh?.errors, 0, 'scenario 4 refresh errors');
      assert.doesNotMatch(fs.readFileSync(out, 'utf8'), /refreshTokens/, 'no live refresh token is written to the results');
      assert.ok((s5?.medians?.ours?.rps ?? 0) > 0 && (s5?.medians?.limit?.rps ?? 0) > 0, 'scenario 5');
      assert.ok(Number(s6?.npmStartToReadyMs) > 0, 'scenario 6');
      assert.ok(Number(s7?.queries) >= 6 && Number(s7?.environments) >= 3 && Number(s7?.wallMs) > 0, 'scenario 7');
      assert.ok(results.sampleGeneration.events > 100_000 && results.sampleGeneration.ms > 0, 'sample generation');
      assert.ok(results.postgresCopy.rows.events === results.sampleGeneration.events, 'the PostgreSQL copy holds the sample');
      const questions =
        (analytics as { questions?: { key: string; answersMatch: boolean; endpoint: { p50Ms: number } }[] }).questions ?? [];
      assert.deepEqual(
        questions.map((q) => q.key),
        ['dau_90d', 'top_events_7d', 'funnel_30d', 'retention_w1', 'point_user', 'revenue_json'],
      );
      for (const q of questions) {
        assert.ok(q.answersMatch, `analytics ${q.key}: the three paths answer the same`);
        assert.ok(q.endpoint.p50Ms > 0, `analytics ${q.key}`);
      }
      assert.equal(results.targets.filter((t) => t.scenario !== 'analytics').length, 11);
      const tools = (analytics as { tools?: { key: string; rows: number; endpoint: { p50Ms: number } }[] }).tools ?? [];
      assert.deepEqual(
        tools.map((t) => t.key),
        ['tool_funnel', 'tool_retention', 'tool_segmentation'],
      );
      for (const t of tools) assert.ok(t.rows > 0 && t.endpoint.p50Ms > 0, `analytics ${t.key}`);
      assert.equal(results.targets.filter((t) => t.scenario === 'analytics').length, 6 * 3 + 3 + 2);
      assert.match(output, /\| week-1 retention by signup week/);
      assert.match(output, /\| 1m the same call as MCP 2026-07-28 @32/);
      assert.match(output, /\| 1 tools\/call get_session_context @32/);
    } finally {
      await database.drop();
    }
  });
});
