import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Sample } from '../../src/lakehouse/sample.js';

// The sample's data in PostgreSQL, for the baselines that run the same SQL there (scenario 2's reference and
// the analytics scenario): users and events exported from the Parquet files to CSV by DuckDB, COPY'd into a
// schema of the bench's database, then indexed as a careful DBA would (users' primary key, events by time;
// events are loaded in time order, as the Parquet file holds them) and VACUUM ANALYZEd. A schema that holds
// this sample already (same version, size and anchor: a kept --data-dir) is reused.

export const PG_SCHEMA = 'bench_sample';

const TABLES = {
  users: {
    columns: 'user_id bigint NOT NULL, signed_up_at timestamptz NOT NULL, plan text NOT NULL, country text NOT NULL',
    select: 'user_id, signed_up_at, plan, country',
    after: ['ALTER TABLE users ADD PRIMARY KEY (user_id)'],
  },
  events: {
    columns:
      'event_id bigint NOT NULL, event text NOT NULL, user_id bigint NOT NULL, session_id bigint, occurred_at timestamptz NOT NULL, properties jsonb',
    select: 'event_id, event, user_id, session_id, occurred_at, properties',
    after: ['CREATE INDEX events_occurred_at ON events (occurred_at)'],
  },
} as const;

export interface PgCopyResult {
  schema: string;
  reused: boolean;
  /** Export to CSV, COPY, indexes and VACUUM ANALYZE, in ms (0 when reused). */
  loadMs: number;
  steps: Record<string, number>;
  rows: Record<string, number>;
}

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

export async function loadSampleIntoPostgres(
  databaseUrl: string,
  sample: Sample,
  workDir: string,
  say: (line: string) => void = () => undefined,
): Promise<PgCopyResult> {
  const marker = `${sample.manifest.version}/${sample.manifest.events}/${sample.manifest.anchor}/${sample.manifest.generated_at}`;
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'lakehouse-bench loader' });
  await client.connect();
  try {
    const existing = await client.query<{ marker: string | null }>(
      `SELECT obj_description(oid, 'pg_namespace') AS marker FROM pg_namespace WHERE nspname = $1`,
      [PG_SCHEMA],
    );
    if (existing.rows[0]?.marker === marker) {
      const rows = await countRows(client);
      say(`  PostgreSQL copy of the sample: reusing schema ${PG_SCHEMA}`);
      return { schema: PG_SCHEMA, reused: true, loadMs: 0, steps: {}, rows };
    }
    const t0 = performance.now();
    const steps: Record<string, number> = {};
    const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
      const t = performance.now();
      const answer = await work();
      steps[name] = Math.round(performance.now() - t);
      say(`  ${name.padEnd(16)} ${(steps[name] / 1000).toFixed(1)} s`);
      return answer;
    };
    fs.mkdirSync(workDir, { recursive: true });
    const csv = (table: string) => path.join(workDir, `${table}.csv`);
    await step('export to CSV', async () => {
      const instance = await DuckDBInstance.create(':memory:');
      const duck = await instance.connect();
      try {
        await duck.run("SET TimeZone = 'UTC'");
        for (const [table, spec] of Object.entries(TABLES)) {
          const file = sample.files[table];
          if (!file) throw new Error(`the sample has no ${table} table`);
          await duck.run(
            `COPY (SELECT ${spec.select} FROM read_parquet(${literal(file)})) TO ${literal(csv(table))} (FORMAT csv, HEADER false)`,
          );
        }
      } finally {
        duck.closeSync();
        instance.closeSync();
      }
    });
    await client.query(`DROP SCHEMA IF EXISTS ${PG_SCHEMA} CASCADE`);
    await client.query(`CREATE SCHEMA ${PG_SCHEMA}`);
    await client.query(`SET search_path = ${PG_SCHEMA}`);
    for (const [table, spec] of Object.entries(TABLES)) await client.query(`CREATE TABLE ${table} (${spec.columns})`);
    // The two tables at once, on connections of their own (events is most of it).
    await step('COPY', () =>
      Promise.all(
        Object.entries(TABLES).map(async ([table, spec]) => {
          const copier = new pg.Client({ connectionString: databaseUrl, application_name: 'lakehouse-bench loader' });
          await copier.connect();
          try {
            await pipeline(
              fs.createReadStream(csv(table), { highWaterMark: 1 << 20 }),
              copier.query(copyFrom(`COPY ${PG_SCHEMA}.${table} (${spec.select}) FROM STDIN (FORMAT csv)`)),
            );
          } finally {
            await copier.end();
          }
        }),
      ),
    );
    for (const table of Object.keys(TABLES)) fs.rmSync(csv(table), { force: true });
    await step('indexes', async () => {
      await client.query("SET maintenance_work_mem = '512MB'");
      for (const spec of Object.values(TABLES)) for (const statement of spec.after) await client.query(statement);
    });
    await step('VACUUM ANALYZE', async () => {
      for (const table of Object.keys(TABLES)) await client.query(`VACUUM (ANALYZE) ${table}`);
    });
    await client.query(`COMMENT ON SCHEMA ${PG_SCHEMA} IS ${literal(marker)}`);
    const rows = await countRows(client);
    return { schema: PG_SCHEMA, reused: false, loadMs: Math.round(performance.now() - t0), steps, rows };
  } finally {
    await client.end();
  }
}

async function countRows(client: pg.Client): Promise<Record<string, number>> {
  const rows: Record<string, number> = {};
  for (const table of Object.keys(TABLES)) {
    const answer = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${PG_SCHEMA}.${table}`);
    rows[table] = Number(answer.rows[0]?.n ?? 0);
  }
  return rows;
}
