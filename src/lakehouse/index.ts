import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import type { Database } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { ensureSampleData, type SampleProgress } from './sample-data.js';
import { Lakehouse } from './sandbox.js';

export { Lakehouse } from './sandbox.js';

export interface StartLakehouseOptions {
  config: Pick<Config, 'sqlConcurrency'>;
  db: Kysely<Database>;
  /** URL of the application database (OpenDatabase.url). */
  url: string;
  secret: Buffer;
  log: Logger;
  /** Where generation progress goes (default: stderr, one line per step). */
  progress?: (line: string) => void;
}

const count = (n: number) => n.toLocaleString('en-US');

/**
 * At server start: the sample data (generated on the first start, with its progress on the terminal),
 * then the sandbox (Services.lakehouse). Close the answer on shutdown.
 */
export async function startLakehouse(options: StartLakehouseOptions): Promise<Lakehouse> {
  const print = options.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
  let announced = false;
  const info = await ensureSampleData(options.db, (p: SampleProgress) => {
    if (!announced) {
      print('sample data: generating the `sample` connection (first start only)…');
      announced = true;
    }
    print(`  ${p.step.padEnd(10)} ${p.rows === undefined ? '' : `${count(p.rows)} rows `}(${(p.ms / 1000).toFixed(1)} s)`);
  });
  if (info.generated) {
    print(
      `sample data: ${count(info.rowCounts.events ?? 0)} events, ${count(info.rowCounts.users ?? 0)} users over 90 days to ${info.anchor}, generated in ${(info.durationMs / 1000).toFixed(1)} s`,
    );
    options.log.info({ durationMs: info.durationMs, rows: info.rowCounts }, 'sample data generated');
  }
  const lakehouse = await new Lakehouse(options.db, {
    appUrl: options.url,
    secretKey: options.secret,
    sqlConcurrency: options.config.sqlConcurrency,
    log: options.log,
  }).init();
  return lakehouse;
}
