import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { generateSampleParquet, SAMPLE_PARQUET_VERSION, SAMPLE_TABLES } from './duckdb/sample-parquet.js';
import type { TableComment } from './duckdb/worker-protocol.js';

// The `sample` connection's data: Parquet files made once per install by DuckDB (duckdb/sample-parquet.ts)
// in SAMPLE_DIR/v<version>-<events>/, beside a manifest written last. A folder with a manifest is complete;
// a generation is made in a folder of its own and renamed into place, so two processes starting at once
// never see half a sample (the second one's rename fails and it uses the first one's).

export interface SampleManifest {
  version: number;
  events: number;
  anchor: string;
  generated_at: string;
  duration_ms: number;
  row_counts: Record<string, number>;
  /** File names of the tables, relative to the manifest's folder. */
  files: Record<string, string>;
}

export interface Sample {
  dir: string;
  manifest: SampleManifest;
  /** Absolute paths of the tables' files. */
  files: Record<string, string>;
  generated: boolean;
}

const MANIFEST = 'manifest.json';

/** What the sample's tables and columns hold, shown by get_connection (DuckDB comments on the views). */
export const SAMPLE_COMMENTS: Record<string, TableComment> = {
  users: {
    table: 'Users of a fictional SaaS product, one row each, with their signup time, plan and country.',
    columns: { plan: 'free, pro or enterprise (today)', country: 'ISO 3166 alpha-2', signed_up_at: 'UTC' },
  },
  sessions: { table: 'Product sessions: who, when, on which device.', columns: { device: 'desktop, mobile or tablet' } },
  events: {
    table:
      'Product events over 90 days. Funnel: signup → onboarding_completed → checkout_started → purchase. ' +
      "properties is JSON: path (page_view), feature (feature_used), amount (purchase, USD), code (error). Filter a property as (properties->>'path') = '/pricing'.",
    columns: {
      event: 'the event name',
      occurred_at: 'UTC; the file is sorted by it, so a time filter reads less',
      properties: "JSON; read a key with properties->>'key' (parenthesize it in comparisons)",
    },
  },
  pageviews: { table: 'Page views with their path (the page_view events, by session).' },
};

const folderOf = (root: string, events: number) => path.join(root, `v${SAMPLE_PARQUET_VERSION}-${events}`);

function read(dir: string): Sample | undefined {
  const file = path.join(dir, MANIFEST);
  if (!fs.existsSync(file)) return undefined;
  const manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as SampleManifest;
  const files = Object.fromEntries(Object.entries(manifest.files).map(([table, name]) => [table, path.join(dir, name)]));
  if (!Object.values(files).every((f) => fs.existsSync(f))) return undefined;
  return { dir, manifest, files, generated: false };
}

export interface EnsureSampleOptions {
  root: string;
  events: number;
  /** One line per step, as it happens (the terminal on first start). */
  progress?: (line: string) => void;
}

const count = (n: number) => n.toLocaleString('en-US');

/** The install's sample, generated on first use (about 2 s per million events here). */
export async function ensureSample(options: EnsureSampleOptions): Promise<Sample> {
  const dir = folderOf(options.root, options.events);
  const existing = read(dir);
  if (existing) return existing;
  const print = options.progress ?? (() => undefined);
  print(`sample data: generating the \`sample\` connection, about ${count(options.events)} events (first start only)…`);
  fs.mkdirSync(options.root, { recursive: true });
  const work = path.join(options.root, `.generating-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  const anchor = new Date().toISOString().slice(0, 10);
  try {
    const info = await generateSampleParquet(work, {
      anchor,
      events: options.events,
      onProgress: (step, ms, rows) =>
        print(`  ${step.padEnd(10)} ${rows === undefined ? '' : `${count(rows)} rows `}(${(ms / 1000).toFixed(1)} s)`),
    });
    const manifest: SampleManifest = {
      version: SAMPLE_PARQUET_VERSION,
      events: options.events,
      anchor,
      generated_at: new Date().toISOString(),
      duration_ms: info.durationMs,
      row_counts: info.rowCounts,
      files: Object.fromEntries(SAMPLE_TABLES.map((table) => [table, path.basename(info.files[table])])),
    };
    fs.writeFileSync(path.join(work, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    try {
      fs.renameSync(work, dir);
    } catch (error) {
      // Another process put its sample in place first: use that one.
      const theirs = read(dir);
      if (theirs) return theirs;
      throw error;
    }
    print(
      `sample data: ${count(info.rowCounts.events)} events, ${count(info.rowCounts.users)} users over 90 days to ${anchor}, generated in ${(info.durationMs / 1000).toFixed(1)} s`,
    );
    const made = read(dir);
    if (!made) throw new Error(`the sample in ${dir} is incomplete`);
    return { ...made, generated: true };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
