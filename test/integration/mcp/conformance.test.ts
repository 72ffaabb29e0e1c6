import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { toolCatalogue } from '../../../src/generated/tools.js';
import { startBearerProxy, startMcpTestServer, type McpTestServer } from '../../helpers/mcp.js';

// Third-party clients against the endpoint: the official MCP conformance suite (server mode) and the MCP
// Inspector CLI, both fetched with npx (cached after the first run). The suite does not send tokens, so
// it goes through a reverse proxy that adds one (never an auth-off switch in the server); the proxy is
// the server's PUBLIC_URL, as a real reverse proxy would be, so the Host and Origin checks stay on.

const CONFORMANCE = ['-y', '-p', 'node@22', '-p', '@modelcontextprotocol/conformance@0.1.16', '--', 'conformance'];
/** The suite of MCP 2026-07-28 (its scenarios exist only in the 0.2 alphas). */
const CONFORMANCE_MODERN = ['-y', '-p', 'node@22', '-p', '@modelcontextprotocol/conformance@0.2.0-alpha.12', '--', 'conformance'];
const INSPECTOR = ['-y', '@modelcontextprotocol/inspector-cli@1.0.3', '--cli'];
/**
 * inspector-cli 1.0.3 tests for `../package.json` relative to the working directory but imports it relative
 * to its own build/ directory; run from a directory whose parent holds a package.json (test/ → the repo's)
 * so that the check passes and the import finds the CLI's own package.json.
 */
const INSPECTOR_CWD = path.resolve(import.meta.dirname, '../..');
const RUN_TIMEOUT_MS = 150_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function npx(args: string[], cwd?: string, timeoutMs = RUN_TIMEOUT_MS): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn('npx', args, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, npm_config_update_notifier: 'false' },
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: `${stderr}\n${error.message}`, timedOut });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

/** npm could not fetch the package (offline, registry down): the test skips rather than fails, except in CI. */
const fetchFailed = (run: Run) =>
  run.code !== 0 &&
  /npm (ERR!|error) (code )?(E404|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNREFUSED|ECONNRESET|ENETUNREACH|network)|could not determine executable/i.test(
    run.stderr,
  );

/** Skips a test whose suite could not be fetched; under CI=true that is a failure, never a skip. */
function skipUnfetched(t: { skip(message: string): void }, run: Run, what: string): boolean {
  if (!fetchFailed(run)) return false;
  const reason = `npx could not fetch ${what}: ${run.stderr.split('\n').find((l) => /ERR|error/.test(l)) ?? ''}`;
  if (process.env.CI === 'true') assert.fail(`${reason} (CI=true: a suite that cannot run is a failure)\n${explain(run)}`);
  t.skip(reason);
  return true;
}

function explain(run: Run): string {
  return `exit ${String(run.code)}${run.timedOut ? ' (timed out)' : ''}\n--- stdout\n${run.stdout.slice(-6000)}\n--- stderr\n${run.stderr.slice(-3000)}`;
}

/** Scenarios that must pass (warnings allowed). */
const REQUIRED = [
  'server-initialize',
  'ping',
  'tools-list',
  'logging-set-level',
  'dns-rebinding-protection',
  'server-sse-multiple-streams',
  'resources-list',
  'prompts-list',
];

/** Scenarios that do not apply to this server, and why. */
const NOT_APPLICABLE: Record<string, string> = {
  'tools-call-simple-text': 'needs the suite’s test tool test_simple_text; we serve only our own tools',
  'tools-call-image': 'needs the suite’s test tool test_image_content',
  'tools-call-audio': 'needs the suite’s test tool test_audio_content',
  'tools-call-embedded-resource': 'needs the suite’s test tool test_embedded_resource',
  'tools-call-mixed-content': 'needs the suite’s test tool test_multiple_content_types',
  'tools-call-with-logging': 'needs the suite’s test tool test_tool_with_logging',
  'tools-call-error': 'needs the suite’s test tool test_error_handling',
  'tools-call-with-progress': 'needs the suite’s test tool test_tool_with_progress (progress is tested in streaming.test.ts)',
  'tools-call-sampling': 'needs the suite’s test tool test_sampling and server-to-client requests, which a stateless server does not make',
  'tools-call-elicitation': 'needs the suite’s test tool test_elicitation and server-to-client requests',
  'elicitation-sep1034-defaults': 'needs the suite’s elicitation test tool and server-to-client requests',
  'elicitation-sep1330-enums': 'needs the suite’s elicitation test tool and server-to-client requests',
  'json-schema-2020-12': 'needs the suite’s test tool json_schema_2020_12_tool',
  'server-sse-polling':
    'needs the suite’s test tool test_reconnection and resumable streams (Last-Event-ID), which a stateless server does not keep',
  'completion-complete':
    'needs the suite’s prompt test_prompt_with_arguments (an unknown prompt is -32602); completions are tested in resources-prompts.test.ts',
  'resources-read-text': 'needs the suite’s resource test://static-text (reads are tested in resources-prompts.test.ts)',
  'resources-read-binary': 'needs the suite’s resource test://static-binary',
  'resources-templates-read': 'needs the suite’s resource template test://template/{id}/data',
  'resources-subscribe': 'the server does not offer resource subscriptions (no `subscribe` in its resources capability)',
  'resources-unsubscribe': 'the server does not offer resource subscriptions',
  'prompts-get-simple': 'needs the suite’s prompt test_simple_prompt (prompts/get is tested in resources-prompts.test.ts)',
  'prompts-get-with-args': 'needs the suite’s prompt test_prompt_with_arguments',
  'prompts-get-embedded-resource': 'needs the suite’s prompt test_prompt_with_embedded_resource',
  'prompts-get-with-image': 'needs the suite’s prompt test_prompt_with_image',
};

/**
 * MCP 2026-07-28 (suite 0.2.0-alpha.12, `--requirements 2026-07-28`): every scenario is run and its checks
 * read from checks.json. A scenario that needs the suite's own fixtures (its test tools, prompts and
 * resources) does not apply; of the others, only the checks listed here may fail, each for its reason.
 */
const MODERN_NOT_APPLICABLE: Record<string, string> = {
  'completion-complete': 'needs the suite’s prompt test_prompt_with_arguments (an unknown prompt is -32602)',
  'tools-call-simple-text': 'needs the suite’s test tool test_simple_text',
  'tools-call-image': 'needs the suite’s test tool test_image_content',
  'tools-call-audio': 'needs the suite’s test tool test_audio_content',
  'tools-call-embedded-resource': 'needs the suite’s test tool test_embedded_resource',
  'tools-call-mixed-content': 'needs the suite’s test tool test_multiple_content_types',
  'tools-call-error': 'needs the suite’s test tool test_error_handling',
  'tools-call-with-progress': 'needs the suite’s test tool test_tool_with_progress (progress is tested in modern.test.ts)',
  'json-schema-2020-12': 'needs the suite’s test tool json_schema_2020_12_tool',
  'resources-read-text': 'needs the suite’s resource test://static-text',
  'resources-read-binary': 'needs the suite’s resource test://static-binary',
  'resources-templates-read': 'needs the suite’s resource template test://template/{id}/data',
  'prompts-get-simple': 'needs the suite’s prompt test_simple_prompt',
  'prompts-get-with-args': 'needs the suite’s prompt test_prompt_with_arguments',
  'prompts-get-embedded-resource': 'needs the suite’s prompt test_prompt_with_embedded_resource',
  'prompts-get-with-image': 'needs the suite’s prompt test_prompt_with_image',
  'http-custom-header-server-validation': 'needs a tool declaring x-mcp-header parameters; ours declare none',
};
for (const kind of [
  'basic-elicitation',
  'basic-sampling',
  'basic-list-roots',
  'request-state',
  'multiple-input-requests',
  'multi-round',
  'missing-input-response',
  'non-tool-request',
  'result-type',
  'tampered-state',
  'capability-check',
  'ignore-extra-params',
  'validate-input',
]) {
  MODERN_NOT_APPLICABLE[`input-required-result-${kind}`] =
    'needs the suite’s test tools that answer input_required (MRTR); ours never ask the client for input';
}
/** The `io.modelcontextprotocol/tasks` extension (not scored): this server does not offer it. */
const notOffered = (scenario: string) =>
  scenario.startsWith('tasks-') ? 'the io.modelcontextprotocol/tasks extension, which this server does not offer' : undefined;

/** Checks of applicable scenarios that need the suite's test tools, by `scenario:check-id`. */
const MODERN_CHECKS_NOT_APPLICABLE: Record<string, string> = {
  'server-stateless:sep-2575-server-rejects-undeclared-capability': 'needs the suite’s test tool test_missing_capability',
  'server-stateless:sep-2575-missing-capability-http-400': 'needs the suite’s test tool test_missing_capability',
  'server-stateless:sep-2575-http-server-no-independent-requests-on-stream': 'needs the suite’s test tool test_streaming_elicitation',
  'server-stateless:sep-2575-server-no-log-without-loglevel': 'needs the suite’s test tool test_logging_tool (tested in modern.test.ts)',
};

interface Check {
  id: string;
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'SKIPPED' | 'INFO';
  errorMessage?: string;
}

/** The checks of each scenario a `-o DIR` run wrote (`DIR/server-<scenario>-<time>/checks.json`). */
function readChecks(dir: string): Map<string, Check[]> {
  const scenarios = new Map<string, Check[]>();
  for (const entry of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    const scenario = /^server-(.+)-\d{4}-\d{2}-\d{2}T/.exec(entry)?.[1];
    const file = path.join(dir, entry, 'checks.json');
    if (scenario && fs.existsSync(file)) scenarios.set(scenario, JSON.parse(fs.readFileSync(file, 'utf8')) as Check[]);
  }
  return scenarios;
}

const count = (checks: Check[], status: Check['status']) => checks.filter((c) => c.status === status).length;

let proxied: McpTestServer;
let direct: McpTestServer;
let proxy: Awaited<ReturnType<typeof startBearerProxy>>;
const runs = new Map<string, Promise<Run>>();
const legacyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-conformance-2025-'));
const modernDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-conformance-2026-'));
let modernRun: Promise<Run>;

before(async () => {
  proxy = await startBearerProxy();
  proxied = await startMcpTestServer({ publicUrl: () => proxy.url });
  proxy.target = proxied.port;
  proxy.token = proxied.tokens.readWrite;
  // A second process on the same database, reached directly, for the Inspector (which sends its own token).
  direct = await startMcpTestServer({ database: proxied.database });
  // The suite runs one scenario per process; start them all at once (each takes a few seconds).
  for (const scenario of REQUIRED) {
    runs.set(scenario, npx([...CONFORMANCE, 'server', '--url', `${proxy.url}/v1`, '--scenario', scenario, '-o', legacyDir]));
  }
  modernRun = npx(
    [...CONFORMANCE_MODERN, 'server', '--url', `${proxy.url}/v1`, '--requirements', '2026-07-28', '-o', modernDir],
    undefined,
    240_000,
  );
});
after(async () => {
  await Promise.allSettled([...runs.values(), modernRun]);
  fs.rmSync(modernDir, { recursive: true, force: true });
  fs.rmSync(legacyDir, { recursive: true, force: true });
  await direct?.close();
  await proxied?.close();
  await proxy?.close();
});

describe('MCP conformance suite (@modelcontextprotocol/conformance 0.1.16, server mode)', { timeout: RUN_TIMEOUT_MS + 30_000 }, () => {
  for (const scenario of REQUIRED) {
    it(`passes the ${scenario} scenario`, async (t) => {
      const run = await (runs.get(scenario) ?? assert.fail('not started'));
      if (skipUnfetched(t, run, 'the conformance suite 0.1.16')) return;
      assert.equal(run.code, 0, explain(run));
      assert.doesNotMatch(run.stdout, /FAILURE|✗/, explain(run));
      const checks = readChecks(legacyDir).get(scenario) ?? [];
      assert.ok(checks.length > 0, `no checks.json for ${scenario}\n${explain(run)}`);
      assert.equal(count(checks, 'FAILURE'), 0, JSON.stringify(checks));
      t.diagnostic(
        `${scenario}: ${count(checks, 'SUCCESS')} passed, ${count(checks, 'FAILURE')} failed, ${count(checks, 'WARNING')} warnings, ${count(checks, 'SKIPPED')} skipped`,
      );
    });
  }
  for (const [scenario, reason] of Object.entries(NOT_APPLICABLE)) {
    it(`does not apply: ${scenario}`, { skip: `not applicable: ${reason}` }, () => undefined);
  }
});

describe(
  'MCP conformance suite for 2026-07-28 (@modelcontextprotocol/conformance 0.2.0-alpha.12, server mode)',
  { timeout: 300_000 },
  () => {
    it('passes every applicable scenario: no failure but the checks that need the suite’s test tools', async (t) => {
      const run = await modernRun;
      if (skipUnfetched(t, run, 'the conformance suite 0.2.0-alpha.12')) return;
      const scenarios = readChecks(modernDir);
      assert.ok(scenarios.size >= 20, `the suite wrote results for ${scenarios.size} scenarios\n${explain(run)}`);
      const table: string[] = [];
      const unexpected: string[] = [];
      for (const [scenario, checks] of [...scenarios].sort(([a], [b]) => a.localeCompare(b))) {
        const notApplicable = MODERN_NOT_APPLICABLE[scenario] ?? notOffered(scenario);
        const failures = checks.filter((c) => c.status === 'FAILURE');
        const excused = failures.filter((c) => MODERN_CHECKS_NOT_APPLICABLE[`${scenario}:${c.id}`]);
        table.push(
          `| ${scenario} | ${count(checks, 'SUCCESS')} | ${failures.length} | ${count(checks, 'WARNING')} | ${count(checks, 'SKIPPED')} | ` +
            `${notApplicable ? `n/a: ${notApplicable}` : excused.length ? `pass (${excused.length} check(s) need the suite’s test tools)` : 'pass'} |`,
        );
        if (notApplicable) continue;
        for (const failure of failures) {
          if (!MODERN_CHECKS_NOT_APPLICABLE[`${scenario}:${failure.id}`])
            unexpected.push(`${scenario}:${failure.id}: ${failure.errorMessage ?? ''}`);
        }
      }
      for (const line of ['| scenario | passed | failed | warnings | skipped | verdict |', '|---|---|---|---|---|---|', ...table])
        t.diagnostic(line);
      assert.deepEqual(unexpected, [], explain(run));
      for (const scenario of Object.keys(MODERN_NOT_APPLICABLE)) {
        assert.ok(scenarios.has(scenario), `the not-applicable list names ${scenario}, which the suite no longer runs`);
      }
    });
  },
);

describe('MCP Inspector CLI (@modelcontextprotocol/inspector-cli 1.0.3)', { timeout: RUN_TIMEOUT_MS + 30_000 }, () => {
  const inspect = (...args: string[]) =>
    npx(
      [...INSPECTOR, direct.mcpUrl, '--transport', 'http', '--header', `Authorization: Bearer ${direct.tokens.read}`, ...args],
      INSPECTOR_CWD,
    );

  it('lists the tools a read token may call', async (t) => {
    const run = await inspect('--method', 'tools/list');
    if (skipUnfetched(t, run, 'the Inspector CLI')) return;
    assert.equal(run.code, 0, explain(run));
    const listed = (JSON.parse(run.stdout) as { tools: { name: string }[] }).tools.map((tool) => tool.name).sort();
    assert.deepEqual(
      listed,
      toolCatalogue
        .filter((tool) => tool.scope === 'read')
        .map((tool) => tool.name)
        .sort(),
    );
  });

  it('calls get_session_context and search_docs', async (t) => {
    const [session, search] = await Promise.all([
      inspect('--method', 'tools/call', '--tool-name', 'get_session_context'),
      inspect('--method', 'tools/call', '--tool-name', 'search_docs', '--tool-arg', 'query=connection', 'limit=2'),
    ]);
    if (skipUnfetched(t, session, 'the Inspector CLI')) return;
    assert.equal(session.code, 0, explain(session));
    const context = JSON.parse(session.stdout) as { structuredContent: { environment: { name: string }; scopes: string[] } };
    assert.equal(context.structuredContent.environment.name, direct.principals.read.environment);
    assert.deepEqual(context.structuredContent.scopes, ['read']);
    assert.equal(search.code, 0, explain(search));
    const found = JSON.parse(search.stdout) as { structuredContent: { items: unknown[] } };
    assert.ok(found.structuredContent.items.length > 0 && found.structuredContent.items.length <= 2, search.stdout);
  });

  it('is refused without a token, with the OAuth challenge', async (t) => {
    const run = await npx([...INSPECTOR, direct.mcpUrl, '--transport', 'http', '--method', 'tools/list'], INSPECTOR_CWD);
    if (skipUnfetched(t, run, 'the Inspector CLI')) return;
    assert.notEqual(run.code, 0, explain(run));
    assert.match(run.stdout + run.stderr, /401|Unauthorized/i, explain(run));
  });
});
