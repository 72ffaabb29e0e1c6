import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { APP_DATABASE, withDatabase } from '../../../src/db/database.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../../src/db/embedded-postgres.js';
import { captureLog, makeDataDir, removeDataDir } from '../../helpers/db.js';
import { runCli, singleJson } from './run-cli.js';

async function count(url: string, table: string): Promise<number> {
  const client = new pg.Client({ connectionString: withDatabase(url, APP_DATABASE) });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
    return rows[0]?.n ?? -1;
  } finally {
    await client.end();
  }
}

describe('admin CLI on the embedded PostgreSQL (no DATABASE_URL)', () => {
  let dataDir: string;
  let server: EmbeddedPostgres | undefined;
  before(async () => {
    dataDir = await makeDataDir();
  });
  after(async () => {
    await server?.stop();
    await removeDataDir(dataDir);
  });

  it('starts the cluster itself when none runs, creates the lakehouse database, and stops the cluster after', async () => {
    const result = await runCli(['org', 'create', 'acme', '--json'], { DATA_DIR: dataDir });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual((singleJson(result) as { organization: { name: string } }).organization.name, 'acme');
    await assert.rejects(fs.access(path.join(dataDir, 'postgres', 'postmaster.pid')), 'the CLI left its cluster running');
  });

  it('attaches to the cluster a running server started, and leaves it running', async () => {
    server = await startEmbeddedPostgres({ dataDir, log: captureLog(), durable: false });
    const pidFile = path.join(server.clusterDir, 'postmaster.pid');
    const pidBefore = await fs.readFile(pidFile, 'utf8');

    const viaNpm = await runCli(['env', 'create', 'acme/production', '--json'], { DATA_DIR: dataDir });
    assert.equal(viaNpm.code, 0, viaNpm.stderr);
    const viaBin = await runCli(['env', 'create', 'acme/staging'], { DATA_DIR: dataDir }, 'bin');
    assert.equal(viaBin.code, 0, viaBin.stderr);
    assert.match(viaBin.stdout, /^created environment acme\/staging \(/);

    assert.equal(await fs.readFile(pidFile, 'utf8'), pidBefore, 'the same postmaster still runs');
    assert.equal(await count(server.url, 'environments'), 2);
  });
});
