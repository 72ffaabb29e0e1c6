import { formatBytes } from './format-bytes.js';
import type { Duplex } from 'node:stream';
import type pg from 'pg';
import { AppError } from '../errors.js';

// node-postgres buffers each backend message whole before it parses it: one DataRow of 540 MB (a single
// `SELECT repeat(chr(120), 540000000)`) took the process down with ERR_STRING_TOO_LONG, and 100 MB cost
// 350 MB of memory before any cap could look at the row. This guard sits between a sandbox connection's
// socket and node-postgres's parser and reads only the 5-byte message headers:
//  - a DataRow over the statement's row cap is never handed to the parser: its bytes are skipped as they
//    arrive and the statement is told (it counts the row, answers the rows before it and names it), so the
//    connection stays in step with the server and can be reused;
//  - any other message over MAX_MESSAGE_BYTES (an error message quoting a huge value, say) cannot be
//    skipped without losing the protocol's meaning: the connection is destroyed with a clear error.
// So node-postgres never holds more than the cap plus one socket read, whatever the statement returns.

/** Without a statement that says otherwise, no DataRow may be larger than this. */
export const DEFAULT_ROW_CAP = 16 * 1024 * 1024;
/** No other backend message may be larger than this (errors, notices, row descriptions are far smaller). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

const DATA_ROW = 0x44; // 'D'
const HEADER = 5;

/** What the statement running on the connection wants to know of its rows. */
export interface RowSizeWatcher {
  /** The largest DataRow (its field bytes) handed to the parser. */
  rowCap: number;
  /** A DataRow of `bytes` was skipped unread; it was the next row of the statement. */
  onOversizedRow(bytes: number): void;
}

export class MessageSizeGuard {
  /** Set when the guard destroyed the connection: the caller's answer. */
  failure: AppError | undefined;
  private watcher: RowSizeWatcher | undefined;
  /** Header bytes of the next message that arrived at the end of the last read. */
  private pendingHeader: Buffer | undefined;
  /** Bytes of the current message still to hand on, or to skip. */
  private forward = 0;
  private skip = 0;

  constructor(
    private readonly stream: Duplex,
    private readonly parse: (chunk: Buffer) => void,
  ) {}

  /** The statement now running; undefined when it has ended. */
  watch(watcher: RowSizeWatcher | undefined): void {
    this.watcher = watcher;
  }

  receive(chunk: Buffer): void {
    let data = chunk;
    if (this.pendingHeader) {
      data = Buffer.concat([this.pendingHeader, chunk]);
      this.pendingHeader = undefined;
    }
    let from = 0;
    let at = 0;
    while (at < data.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length - at);
        this.skip -= n;
        at += n;
        from = at;
        continue;
      }
      if (this.forward > 0) {
        const n = Math.min(this.forward, data.length - at);
        this.forward -= n;
        at += n;
        continue;
      }
      if (data.length - at < HEADER) {
        this.pendingHeader = Buffer.from(data.subarray(at));
        break;
      }
      const type = data[at] as number;
      const length = data.readUInt32BE(at + 1);
      const bodyBytes = length - 4;
      if (type === DATA_ROW && bodyBytes > (this.watcher?.rowCap ?? DEFAULT_ROW_CAP) && this.watcher) {
        // Hand on the rows before it first, so that the statement counts this one after them.
        if (at > from) this.parse(data.subarray(from, at));
        this.skip = 1 + length;
        this.watcher.onOversizedRow(bodyBytes);
        from = at;
        continue;
      }
      const cap = type === DATA_ROW ? DEFAULT_ROW_CAP : MAX_MESSAGE_BYTES;
      if (bodyBytes > cap) {
        if (at > from) this.parse(data.subarray(from, at));
        this.failure = oversizedMessage(type, bodyBytes, cap);
        this.stream.destroy();
        return;
      }
      this.forward = 1 + length;
    }
    const end = data.length - (this.pendingHeader?.length ?? 0);
    if (end > from) this.parse(data.subarray(from, end));
  }
}

function oversizedMessage(type: number, bytes: number, cap: number): AppError {
  const what = type === DATA_ROW ? 'a row' : type === 0x45 ? 'an error message' : `a message (${String.fromCharCode(type)})`;
  return new AppError(
    'answer_too_large',
    `The database answered with ${what} of ${formatBytes(bytes)}, over the ${formatBytes(cap)} a sandbox connection reads at most; nothing of it was read. ` +
      'It most likely quotes a huge value: select less of it (left(col, 1000), length(col)) or convert it before it fails.',
  );
}

const guards = new WeakMap<pg.ClientBase, MessageSizeGuard>();

/**
 * Puts a guard between a connected client's socket and its parser (node-postgres's Connection reads the
 * socket with one 'data' listener, pg-protocol's parse()). Call it once the client is connected: from
 * then on the server sends whole messages, starting at a message boundary.
 */
export function guardMessageSizes(client: pg.ClientBase): MessageSizeGuard {
  const stream = (client as unknown as { connection: { stream: Duplex } }).connection.stream;
  const listeners = stream.listeners('data') as ((chunk: Buffer) => void)[];
  if (listeners.length !== 1) throw new Error(`guardMessageSizes: expected node-postgres's one data listener, found ${listeners.length}`);
  const parse = listeners[0] as (chunk: Buffer) => void;
  stream.removeListener('data', parse);
  const guard = new MessageSizeGuard(stream, parse);
  stream.on('data', (chunk: Buffer) => guard.receive(chunk));
  guards.set(client, guard);
  return guard;
}

/** The guard of a sandbox client (undefined for clients that have none). */
export function messageSizeGuardOf(client: pg.ClientBase): MessageSizeGuard | undefined {
  return guards.get(client);
}
