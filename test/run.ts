import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { staleBuild } from '../scripts/build-info.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../src/db/embedded-postgres.js';
import { ensureSample } from '../src/lakehouse/sample.js';
import { captureLog, createTemplateDatabase, makeDataDir, removeDataDir } from './helpers/db.js';

// `npm test [-- <filters…>] [-- --node-test-options]`: runs test/**/*.test.ts with node:test against ONE
// PostgreSQL for the whole run (embedded, in a temp DATA_DIR, unless TEST_PG_URL/DATABASE_URL names one).
// A filter is a file or directory (`test/integration/db`) or, if no such path exists, a substring of the
// path (`cli`). Arguments starting with `-` are passed to `node --test` (e.g. --test-name-pattern=stale).

const ROOT = path.resolve(import.meta.dirname, '..');
const TEST_DIR = path.join(ROOT, 'test');
const CONTRACT_FETCH = pathToFileURL(path.join(TEST_DIR, 'helpers', 'contract-fetch.ts')).href;
const SKIP_DIRS = new Set(['node_modules', 'fixtures', 'helpers']);
/** The size of the run's sample: the original sample's, so that tests see its shapes in seconds. */
const TEST_SAMPLE_EVENTS = 1_130_000;

function findTestFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && !SKIP_DIRS.has(entry.name)) files.push(...findTestFiles(full));
    else if (entry.isFile() && entry.name.endsWith('.test.ts')) files.push(full);
  }
  return files.sort();
}

function matches(file: string, filter: string): boolean {
  const resolved = path.resolve(filter);
  if (fs.existsSync(resolved)) return file === resolved || file.startsWith(resolved + path.sep);
  return path.relative(ROOT, file).includes(filter);
}

function selectFiles(filters: string[]): string[] {
  const all = findTestFiles(TEST_DIR);
  return filters.length === 0 ? all : all.filter((file) => filters.some((filter) => matches(file, filter)));
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const filters = args.filter((a) => !a.startsWith('-'));
  const nodeTestOptions = args.filter((a) => a.startsWith('-'));
  const files = selectFiles(filters);
  if (files.length === 0) {
    process.stderr.write(`no test files match ${filters.join(' ') || '(all)'} under ${TEST_DIR}\n`);
    return 2;
  }

  // Tests run the compiled entries as users do (npm start, npm run admin, the bin): dist/ must be these sources'.
  const stale = await staleBuild(ROOT);
  if (stale) {
    process.stderr.write(`building dist/: ${stale}\n`);
    const build = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build.js')], { cwd: ROOT, stdio: 'inherit' });
    if (build.status !== 0) return 1;
  }

  let cluster: EmbeddedPostgres | undefined;
  let dataDir: string | undefined;
  let runDir: string | undefined;
  let url = process.env.TEST_PG_URL || process.env.DATABASE_URL;
  let template: Awaited<ReturnType<typeof createTemplateDatabase>> | undefined;
  const cleanup = async () => {
    await template?.drop().catch(() => undefined);
    template = undefined;
    await cluster?.stop();
    if (dataDir) await removeDataDir(dataDir);
    if (runDir) await fs.promises.rm(runDir, { recursive: true, force: true });
    runDir = undefined;
    cluster = undefined;
    dataDir = undefined;
  };

  let child: ReturnType<typeof spawn> | undefined;
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted = true;
    // The terminal already signalled the whole process group; this covers `kill <our pid>`.
    if (child && child.exitCode === null) child.kill(signal);
    else void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    if (url) {
      process.stderr.write('tests use the PostgreSQL of TEST_PG_URL/DATABASE_URL\n');
    } else {
      const started = Date.now();
      dataDir = await makeDataDir('lakehouse-test-');
      const log = captureLog();
      try {
        cluster = await startEmbeddedPostgres({ dataDir, log, durable: false });
      } catch (error) {
        process.stderr.write(`${log.lines.join('\n')}\n`);
        throw error;
      }
      url = cluster.url;
      process.stderr.write(`tests use an embedded PostgreSQL on port ${cluster.port} (ready in ${Date.now() - started} ms)\n`);
    }
    if (interrupted) return 130;
    // Migrated test databases are copies of one template (made once per run).
    template = await createTemplateDatabase(url);
    process.stderr.write(`template ${template.name} ready in ${template.ms} ms\n`);
    if (interrupted) return 130;
    // One sample for the whole run, at the size of the original sample (about 1.1M events), and one folder
    // for the environments' tables of every test server (each test database's environments are new UUIDs).
    runDir = await makeDataDir('lakehouse-test-run-');
    const sampleStarted = Date.now();
    const sample = await ensureSample({ root: path.join(runDir, 'sample'), events: TEST_SAMPLE_EVENTS });
    process.stderr.write(`sample data ready in ${Date.now() - sampleStarted} ms (${JSON.stringify(sample.manifest.row_counts)})\n`);
    if (interrupted) return 130;

    const concurrency = nodeTestOptions.some((o) => o.startsWith('--test-concurrency')) ? [] : ['--test-concurrency=2'];
    // Every test process checks what our servers answer its fetches against the contract (see the helper).
    const argv = ['--import', 'tsx', '--import', CONTRACT_FETCH, '--test', ...concurrency, ...nodeTestOptions, ...files];
    child = spawn(process.execPath, argv, {
      stdio: 'inherit',
      cwd: ROOT,
      env: {
        ...process.env,
        TEST_PG_URL: url,
        TEST_TEMPLATE_DB: template.name,
        SAMPLE_DIR: path.join(runDir, 'sample'),
        SAMPLE_EVENTS: String(TEST_SAMPLE_EVENTS),
        TEST_LAKEHOUSE_DIR: runDir,
      },
    });
    const running = child;
    const code = await new Promise<number>((resolve) => {
      running.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 130 : 1)));
      running.on('error', () => resolve(1));
    });
    return interrupted ? 130 : code;
  } finally {
    await cleanup();
  }
}

process.exitCode = await main();
