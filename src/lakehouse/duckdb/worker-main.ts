import { DuckDBInstance, JsonDuckDBValueConverter, type DuckDBConnection } from '@duckdb/node-api';
import { AppError } from '../../errors.js';
import { quoteIdent as quote, quoteLiteral as literal } from '../sql-quote.js';
import { checkDuckStatement } from './guard.js';
import type { Catalogs, FromWorker, OpenMessage, QueryMessage, ToWorker } from './worker-protocol.js';

// A DuckDB worker process (started by src/lakehouse/duckdb/worker.ts): one locked in-memory DuckDB that can
// read only the folders it was given, answering one statement at a time. It holds no secrets (its environment
// is empty) and nothing of the server's database; if it dies, the serving process answers the call and
// starts another.

const send = (message: FromWorker) => process.send?.(message);

let connection: DuckDBConnection | undefined;
let running: { id: number; timer: NodeJS.Timeout; timedOut: boolean } | undefined;

async function open(message: OpenMessage): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:', {
    threads: String(message.threads),
    memory_limit: message.memoryLimit,
    temp_directory: message.tempDirectory,
    max_temp_directory_size: message.maxTempDirectorySize,
  });
  const setup = await instance.connect();
  await setup.run(`SET allowed_directories = [${message.allowedDirectories.map(literal).join(', ')}]`);
  for (const catalog of Object.keys(message.catalogs)) await setup.run(`ATTACH ':memory:' AS ${quote(catalog)}`);
  await define(setup, message.catalogs);
  // A session setting: queries run on this same connection.
  await setup.run(`SET search_path = ${literal(message.searchPath.join(','))}`);
  await setup.run("SET TimeZone = 'UTC'");
  // From here on: no file outside the allowed folders, no ATTACH, INSTALL or LOAD of anything new, no setting changes.
  await setup.run('SET enable_external_access = false');
  await setup.run('SET autoinstall_known_extensions = false');
  await setup.run('SET autoload_known_extensions = false');
  await setup.run('SET lock_configuration = true');
  connection = setup;
}

/** (Re)creates each catalog's views over their Parquet files, dropping views of tables that are gone. */
async function define(on: DuckDBConnection, catalogs: Catalogs): Promise<void> {
  for (const [catalog, tables] of Object.entries(catalogs)) {
    const existing = await on.runAndReadAll(
      `SELECT view_name FROM duckdb_views() WHERE database_name = ${literal(catalog)} AND NOT internal`,
    );
    for (const [view] of existing.getRows()) {
      if (!(String(view) in tables)) await on.run(`DROP VIEW ${quote(catalog)}.main.${quote(String(view))}`);
    }
    for (const [table, files] of Object.entries(tables)) {
      const list = `[${files.map(literal).join(', ')}]`;
      await on.run(`CREATE OR REPLACE VIEW ${quote(catalog)}.main.${quote(table)} AS SELECT * FROM read_parquet(${list})`);
    }
  }
}

/** DuckDB's error as a code of src/errors.ts and a message for the caller. */
function toError(error: unknown, timedOut: boolean, timeoutMs: number): { code: string; message: string } {
  if (error instanceof AppError) return { code: error.code, message: error.message };
  const message = (error instanceof Error ? error.message : String(error)).slice(0, 2_000);
  if (timedOut || /INTERRUPT/i.test(message)) {
    return {
      code: 'query_timeout',
      message: `The statement ran past its ${timeoutMs} ms timeout and was cancelled. Narrow it (a time range, LIMIT) or raise timeout_ms.`,
    };
  }
  if (/Out of Memory Error/i.test(message)) return { code: 'out_of_memory', message };
  if (/Permission Error|file system operations are disabled/i.test(message)) return { code: 'permission_denied', message };
  return { code: 'sql_error', message };
}

async function query(message: QueryMessage): Promise<void> {
  const { id, sql, limit, maxBytes, timeoutMs } = message;
  if (!connection) return void send({ type: 'error', id, code: 'unavailable', message: 'The worker is not open.' });
  const current = connection;
  running = { id, timedOut: false, timer: setTimeout(() => interrupt(true), timeoutMs) };
  try {
    await checkDuckStatement(current, sql);
    const result = await current.stream(sql);
    const names = result.columnNames();
    const types = result.columnTypes().map((type) => type.toString());
    const rows: unknown[][] = [];
    let bytes = 0;
    let truncated = false;
    reading: for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      for (const row of chunk.convertRows(JsonDuckDBValueConverter)) {
        const size = JSON.stringify(row).length + 1;
        if (rows.length >= limit || bytes + size > maxBytes) {
          if (rows.length === 0) {
            throw new AppError(
              'row_too_large',
              `Row 1 of the result is ${size} bytes, over the ${maxBytes} an answer holds. Select less of it (left(col, 1000), length(col)).`,
            );
          }
          truncated = true;
          break reading;
        }
        rows.push(row);
        bytes += size;
      }
    }
    send({ type: 'result', id, columns: names.map((name, i) => ({ name, type: types[i] ?? 'UNKNOWN' })), rows, truncated });
  } catch (error) {
    send({ type: 'error', id, ...toError(error, running?.timedOut ?? false, timeoutMs) });
  } finally {
    clearTimeout(running?.timer);
    running = undefined;
  }
}

function interrupt(timedOut: boolean): void {
  if (!running || !connection) return;
  running.timedOut ||= timedOut;
  connection.interrupt();
}

/** One statement at a time, in arrival order. */
let queue = Promise.resolve();

process.on('message', (message: ToWorker) => {
  if (message.type === 'cancel') {
    if (running?.id === message.id) interrupt(false);
    return;
  }
  queue = queue.then(async () => {
    if (message.type === 'define') {
      try {
        if (!connection) throw new Error('the worker is not open');
        await define(connection, message.catalogs);
        send({ type: 'defined', id: message.id });
      } catch (error) {
        send({ type: 'error', id: message.id, code: 'unavailable', message: error instanceof Error ? error.message : String(error) });
      }
      return;
    }
    if (message.type === 'open') {
      try {
        await open(message);
        send({ type: 'ready' });
      } catch (error) {
        send({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
      }
      return;
    }
    await query(message);
  });
});

// The serving process went away: so does the worker.
process.on('disconnect', () => process.exit(0));
