import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { staleBuild } from '../scripts/build-info.js';
import { startProcess, type Started } from './lib/processes.js';
import { median } from './lib/stats.js';

// The start-up scenario (`npm run bench -- --scenario startup`, issue 16 item 10): two same-run ratios against
// baselines that do only the unavoidable part, each measured `runs` times in turns (medians reported):
//   - warm start: `npm start` (compiled, dist/) on existing data to `ready`, against a bare node process that
//     starts the same embedded PostgreSQL (our own cluster code, compiled) and prints `ready`. Target ≤ 2×.
//   - admin command: `npm run admin -- service-account list <org>/<env>` (compiled; attaches to the running
//     cluster, checks migrations, one query), against a bare node process that opens one connection to that
//     cluster, runs SELECT 1 and exits. Target ≤ 2×.
// The same two through tsx (how both ran before) are measured for information. Nothing is pinned: start-up is
// mostly one core's work, and both sides get the same machine.

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin', 'lakehouse-mcp.js');
const ENV_REF = 'bench/startup';

/** Starts the embedded cluster of DATA_DIR with the server's own (compiled) code, prints `ready <url>`, stops on SIGTERM. */
const POSTGRES_ALONE = `
import { startEmbeddedPostgres } from ${JSON.stringify(path.join(ROOT, 'dist', 'db', 'embedded-postgres.js'))};
const quiet = { info() {}, warn() {}, debug() {} };
const cluster = await startEmbeddedPostgres({ dataDir: process.env.DATA_DIR, log: quiet });
process.on('SIGTERM', () => cluster.stop().then(() => process.exit(0)));
process.stdout.write('ready ' + cluster.url + '\\n');
`;
/** One connection, one round trip, exit: the floor of any command that talks to the database. */
const BARE_CONNECT = `
import pg from 'pg';
const client = new pg.Client({ connectionString: process.env.BENCH_PG_URL });
await client.connect();
await client.query('SELECT 1');
await client.end();
`;

export interface StartupBenchOptions {
  runs: number;
  /** A folder of the run: the scenario's DATA_DIR and sample go under it. */
  workDir: string;
  logFile: string;
  say: (line: string) => void;
}

interface Ratio {
  oursMs: number;
  baselineMs: number;
  ratio: number;
  target: string;
  pass: boolean;
  /** The same through tsx, as it ran before the compiled build (information). */
  tsxMs: number;
  samples: { ours: number[]; baseline: number[]; tsx: number[] };
}

export interface StartupBenchResult {
  runs: number;
  /** First start on an empty DATA_DIR (initdb, migrations, a small sample): information. */
  firstStartMs: number;
  warmStart: Ratio;
  admin: Ratio;
}

const TARGET = 2;

function ratio(ours: number[], baseline: number[], tsx: number[]): Ratio {
  const oursMs = Math.round(median(ours));
  const baselineMs = Math.round(median(baseline));
  const value = Math.round((oursMs / baselineMs) * 100) / 100;
  return {
    oursMs,
    baselineMs,
    ratio: value,
    target: `≤ ${TARGET}×`,
    pass: value <= TARGET,
    tsxMs: Math.round(median(tsx)),
    samples: { ours, baseline, tsx },
  };
}

/** Runs a process to its exit; answers the wall time in ms (a non-zero exit fails the scenario). */
async function timedRun(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`node ${args.join(' ')} exited with ${code}: ${stderr.trim()}`);
  return ms;
}

export async function benchStartup(options: StartupBenchOptions): Promise<StartupBenchResult> {
  const stale = await staleBuild(ROOT);
  if (stale) throw new Error(`the start-up scenario measures the compiled build, but ${stale}: run \`npm run build\``);
  const dataDir = path.join(options.workDir, 'startup-data');
  fs.mkdirSync(dataDir, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: dataDir,
    PORT: '0',
    LOG_LEVEL: 'warn',
    SECRET_KEY: Buffer.alloc(32, 16).toString('base64'),
    SAMPLE_DIR: path.join(options.workDir, 'startup-sample'),
    SAMPLE_EVENTS: '10000',
  };
  for (const name of ['DATABASE_URL', 'HOST', 'PUBLIC_URL', 'ISSUER_URL', 'NODE_OPTIONS', 'TEST_PG_URL']) delete env[name];
  const start = (args: string[]): Promise<Started> =>
    startProcess(process.execPath, args, { env, cwd: ROOT, logFile: options.logFile, timeoutMs: 120_000 });
  const readyMs = async (args: string[]): Promise<number> => {
    const started = await start(args);
    await started.stop();
    return started.readyMs;
  };

  const firstStartMs = await readyMs([BIN, 'start']);
  options.say(`start-up: first start ${Math.round(firstStartMs)} ms`);

  const warm = { ours: [] as number[], baseline: [] as number[], tsx: [] as number[] };
  for (let run = 0; run < options.runs; run++) {
    // In turns, the order rotating, so that a busy moment of the machine does not land on one side only.
    const steps: [keyof typeof warm, string[]][] = [
      ['baseline', ['--input-type=module', '-e', POSTGRES_ALONE]],
      ['ours', [BIN, 'start']],
      ['tsx', ['--import', 'tsx', 'src/main.ts']],
    ];
    for (let i = 0; i < steps.length; i++) {
      const [side, args] = steps[(i + run) % steps.length] as [keyof typeof warm, string[]];
      warm[side].push(Math.round(await readyMs(args)));
    }
  }
  const warmStart = ratio(warm.ours, warm.baseline, warm.tsx);
  options.say(`start-up: warm start ${warmStart.oursMs} ms, PostgreSQL alone ${warmStart.baselineMs} ms (tsx ${warmStart.tsxMs} ms)`);

  // The admin commands run while a process holds the cluster, as beside a running server.
  const cluster = await start(['--input-type=module', '-e', POSTGRES_ALONE]);
  try {
    const adminArgs = ['service-account', 'list', ENV_REF];
    const [org] = ENV_REF.split('/');
    await timedRun([BIN, 'admin', 'org', 'create', org as string], env);
    await timedRun([BIN, 'admin', 'env', 'create', ENV_REF], env);
    const admin = { ours: [] as number[], baseline: [] as number[], tsx: [] as number[] };
    for (let run = 0; run < options.runs; run++) {
      const steps: [keyof typeof admin, string[], NodeJS.ProcessEnv][] = [
        ['baseline', ['--input-type=module', '-e', BARE_CONNECT], { ...env, BENCH_PG_URL: cluster.ready }],
        ['ours', [BIN, 'admin', ...adminArgs], env],
        ['tsx', ['--import', 'tsx', 'src/cli/admin.ts', ...adminArgs], env],
      ];
      for (let i = 0; i < steps.length; i++) {
        const [side, args, stepEnv] = steps[(i + run) % steps.length] as (typeof steps)[number];
        admin[side].push(Math.round(await timedRun(args, stepEnv)));
      }
    }
    const adminRatio = ratio(admin.ours, admin.baseline, admin.tsx);
    options.say(`start-up: admin command ${adminRatio.oursMs} ms, one connection ${adminRatio.baselineMs} ms (tsx ${adminRatio.tsxMs} ms)`);
    return { runs: options.runs, firstStartMs: Math.round(firstStartMs), warmStart, admin: adminRatio };
  } finally {
    await cluster.stop();
  }
}

export function formatStartup(result: StartupBenchResult): string {
  const line = (name: string, r: Ratio, baseline: string) =>
    `| ${name} | ${r.oursMs} | ${r.tsxMs} | ${baseline} ${r.baselineMs} | ${r.ratio.toFixed(2)}× | ${r.target} | ${r.pass ? 'pass' : 'FAIL'} |`;
  return [
    `start-up (medians of ${result.runs} runs; first start on empty data ${result.firstStartMs} ms)`,
    '| what | compiled ms | tsx ms (before) | baseline ms | ratio | target | |',
    '|---|---|---|---|---|---|---|',
    line('warm start to ready', result.warmStart, 'embedded PostgreSQL alone'),
    line('admin command', result.admin, 'node + one connection'),
  ].join('\n');
}
