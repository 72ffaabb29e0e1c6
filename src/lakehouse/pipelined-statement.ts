import { createRequire } from 'node:module';
import type pg from 'pg';
import { DEFAULT_ROW_CAP, messageSizeGuardOf, type RowSizeWatcher } from './message-size-guard.js';

// One sandboxed statement in one round trip to PostgreSQL (docs/sql-sandbox.md; README.md, "Performance"). A node-postgres "submittable"
// that writes, in one socket write:
//
//   Parse/Bind/Execute  BEGIN READ ONLY                      our trusted set-up, one statement per Parse
//   Parse/Bind/Execute  SET LOCAL statement_timeout = …      (the extended protocol takes one statement
//   …                                                         per Parse; no text of the caller's is in it)
//   Parse/Bind/Describe/Execute(n rows)  <the one checked user statement>
//   Sync
//   Query  ROLLBACK                                          the session reset: two simple-protocol queries
//   Query  DISCARD ALL                                        of our own (DISCARD ALL must run on its own)
//
// Why this is as safe as one round trip per step:
//  - Until a Sync, the backend skips every message after an error: if any set-up statement failed, the user
//    statement is never parsed, let alone run. The user statement can only run inside the READ ONLY block
//    with every SET LOCAL applied.
//  - The user text travels alone in a length-prefixed Parse message: PostgreSQL refuses a second statement
//    there ("cannot insert multiple commands into a prepared statement"), and nothing in the text can end the
//    message, comment out what follows it or reach the set-up or the reset, which are separate messages.
//    (The guard refuses NUL, where PostgreSQL would stop reading the text: it reads exactly what was checked.)
//  - statement_timeout covers the user statement: every completed Execute disables the statement timer and
//    the next message starts a fresh one with the value then in force (postgres.c, exec_execute_message, since
//    PostgreSQL 11), i.e. the SET LOCAL value, from the user statement's Parse to its last row.
//  - The reset follows the Sync, so it runs whatever happened before it (an error only skips up to the Sync),
//    and the caller learns the statement's outcome only once the reset has answered: an answer still means
//    the session is clean (no advisory lock outlives the call). Each Query message is its own implicit
//    transaction, which is what lets DISCARD ALL run here at all.
//
// When the statement may need more rows than one Execute fetches (a large offset or limit), the first write
// ends with Flush instead, further Executes follow while rows are wanted (the portal stays open: no Sync in
// between, so the statement timer keeps running across them), and Sync + reset go with the last one the
// window needs (or follow at once when the rows run out early): one round trip per batch.
// Either way one Execute asks for at most 1,001 rows, and rows past the offset, the limit or the byte cap are
// dropped as they arrive (skipped ones unparsed): memory stays bounded by the caps plus one row. One row is
// bounded too: on a guarded connection (message-size-guard.ts) a row larger than the byte cap never reaches
// node-postgres's parser; it is counted here as a row too large to answer.
//
// node-postgres hands every backend message to its one active query and ends it at ReadyForQuery. The
// reset's answers come after the first ReadyForQuery (the Sync's), so a second submittable, SessionReset,
// is queued to take them: from our handleReadyForQuery (or handleError: node-postgres drops an errored query
// before the ReadyForQuery), which node-postgres calls just before it activates the next queued query; it
// queues itself again the same way for each further Query message. Its submit() writes nothing: its Query
// messages are already on the wire.

const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as { prepareValue: (value: unknown) => string | Buffer | null };

/** The rows of the answer: skip `offset`, keep at most `limit` and at most `maxBytes` of JSON (Infinity: not counted). */
export interface RowWindow {
  offset: number;
  limit: number;
  maxBytes: number;
  /**
   * Takes each row of the window as PostgreSQL's text (null for NULL) instead of keeping it (an export
   * streams rows to a file); answering false stops the statement there (`truncated`).
   */
  sink?: (fields: (string | null)[]) => boolean;
}

export interface StatementRows {
  fields: pg.FieldDef[];
  rows: unknown[][];
  /** More rows existed than the window kept (the limit or the byte cap). */
  truncated: boolean;
  /** The window's first row alone was over the byte cap: no row could be answered. */
  tooLarge?: TooLargeRow;
}

export interface TooLargeRow {
  /** The row's 0-based position in the whole result (an `offset`). */
  index: number;
  /** Its size: on the wire when it was skipped unread, else its JSON. */
  bytes: number;
}

/** Rows one Execute asks for at most; a window that needs no more than this is served in one round trip. */
export const ONE_TRIP_ROWS = 1_001;
/** Rows per Execute when a window needs more (skipped rows are counted, never parsed or kept). */
const BATCH_ROWS = 1_000;

type TextParser = (value: string) => unknown;
/** The node-postgres Connection methods used here (pg/lib/connection.js; @types/pg misstates some). */
interface Protocol {
  stream: { cork?(): void; uncork?(): void };
  parse(message: { text: string }): void;
  bind(message: { values?: (string | Buffer | null)[] }): void;
  describe(message: { type: 'P' }): void;
  execute(message: { rows?: number }): void;
  flush(): void;
  sync(): void;
  query(text: string): void;
  sendCopyFail?(message: string): void;
}

/**
 * Takes the answers to the reset queries that a PipelinedStatement wrote (one ReadyForQuery each); settles
 * once all have answered, with the first error, if any.
 */
class SessionReset implements pg.Submittable {
  readonly settled: Promise<Error | undefined>;
  private settle!: (error: Error | undefined) => void;
  private error: Error | undefined;

  constructor(
    private readonly client: pg.ClientBase,
    /** Query messages whose ReadyForQuery has not come yet. */
    private pending: number,
  ) {
    this.settled = new Promise((resolve) => (this.settle = resolve));
  }

  submit(): void {
    // Nothing to write: the Query messages left with the statement's messages.
  }
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleError(error: Error): void {
    // node-postgres drops this query now; the ReadyForQuery of the failed Query still comes, untaken.
    this.error ??= error;
    this.answered();
  }
  handleReadyForQuery(): void {
    this.answered();
  }

  private answered(): void {
    this.pending -= 1;
    if (this.pending > 0) this.client.query(this);
    else this.settle(this.error);
  }
}

export class PipelinedStatement implements pg.Submittable, RowSizeWatcher {
  /** The statement's rows; rejects with the backend's error (a pg DatabaseError) or the connection's. */
  readonly result: Promise<StatementRows>;
  /** Settles once the session reset has answered: undefined if it succeeded, else its error. Never rejects. */
  readonly reset: Promise<Error | undefined>;

  private readonly values: (string | Buffer | null)[];
  private readonly wanted: number;
  private readonly resetReceiver: SessionReset;
  private connection: Protocol | undefined;
  private setupLeft: number;
  private fields: pg.FieldDef[] = [];
  private parsers: TextParser[] = [];
  private readonly rows: unknown[][] = [];
  private received = 0;
  private requested = 0;
  private bytes = 0;
  private truncated = false;
  private tooLarge: TooLargeRow | undefined;
  private synced = false;
  private queuedReset = false;
  private resolve!: (rows: StatementRows) => void;
  private reject!: (error: Error) => void;

  /**
   * @param client the checked-out client the statement runs on (its queue takes the reset's answers)
   * @param setup trusted statements run first, in order (BEGIN READ ONLY, SET LOCAL …)
   * @param text the one user statement, checked by the SQL guard
   * @param resetQueries the trusted simple-protocol reset that follows the Sync, one Query message each
   */
  constructor(
    private readonly client: pg.ClientBase,
    private readonly setup: readonly string[],
    private readonly text: string,
    values: readonly unknown[],
    private readonly window: RowWindow,
    private readonly types: pg.CustomTypesConfig,
    private readonly resetQueries: readonly string[],
  ) {
    // Prepared now, so that a value that cannot be sent fails before anything is written.
    this.values = values.map((value) => prepareValue(value));
    this.wanted = window.offset + window.limit + 1;
    this.setupLeft = setup.length;
    this.result = new Promise<StatementRows>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.resetReceiver = new SessionReset(client, resetQueries.length);
    this.reset = this.resetReceiver.settled;
  }

  /** The largest row handed to node-postgres's parser (on a guarded connection). */
  get rowCap(): number {
    return Math.min(this.window.maxBytes, DEFAULT_ROW_CAP);
  }

  submit(connection: pg.Connection): void {
    messageSizeGuardOf(this.client)?.watch(this);
    const protocol = (this.connection = connection as unknown as Protocol);
    protocol.stream.cork?.();
    try {
      for (const statement of this.setup) {
        protocol.parse({ text: statement });
        protocol.bind({});
        protocol.execute({});
      }
      protocol.parse({ text: this.text });
      protocol.bind({ values: this.values });
      protocol.describe({ type: 'P' });
      this.requested = Math.min(this.wanted, this.wanted <= ONE_TRIP_ROWS ? ONE_TRIP_ROWS : BATCH_ROWS);
      protocol.execute({ rows: this.requested });
      if (this.requested >= this.wanted) this.syncAndReset();
      else protocol.flush();
    } finally {
      protocol.stream.uncork?.();
    }
  }

  /** Sync (ends the extended-protocol sequence; the READ ONLY block stays open) and the reset, once. */
  private syncAndReset(): void {
    if (this.synced || !this.connection) return;
    this.synced = true;
    this.connection.sync();
    for (const text of this.resetQueries) this.connection.query(text);
  }

  /** Queues the receiver of the reset's answers (once), so that it is active when they arrive. */
  private queueReset(): void {
    if (this.queuedReset) return;
    this.queuedReset = true;
    this.client.query(this.resetReceiver);
  }

  /** Told the result's columns before any row arrives (an export writes its header). */
  onFields?: (fields: pg.FieldDef[]) => void;

  handleRowDescription(message: { fields: pg.FieldDef[] }): void {
    this.fields = message.fields;
    this.onFields?.(message.fields);
    this.parsers = message.fields.map((field) => this.types.getTypeParser(field.dataTypeID, 'text') as TextParser);
  }

  /** The next row, of `bytes` on the wire, was over rowCap and skipped unread by the guard. */
  onOversizedRow(bytes: number): void {
    const index = this.received++;
    if (this.outsideWindow(index)) return;
    this.stopAt(index, bytes);
  }

  /** Row `index` falls before the window or after its end (which it then marks). */
  private outsideWindow(index: number): boolean {
    if (index < this.window.offset || this.truncated) return true;
    if (this.rows.length === this.window.limit) {
      this.truncated = true;
      return true;
    }
    return false;
  }

  /** Row `index` does not fit the byte cap: the answer ends before it (and says why, if it is the first). */
  private stopAt(index: number, bytes: number): void {
    this.truncated = true;
    if (this.rows.length === 0) this.tooLarge = { index, bytes };
  }

  handleDataRow(message: { fields: (string | null)[] }): void {
    const index = this.received++;
    if (this.outsideWindow(index)) return;
    if (this.window.sink) {
      if (!this.window.sink(message.fields)) this.truncated = true;
      return;
    }
    const row = new Array<unknown>(message.fields.length);
    for (let i = 0; i < row.length; i++) {
      const value = message.fields[i];
      row[i] = value === null || value === undefined ? null : (this.parsers[i] as TextParser)(value);
    }
    if (this.window.maxBytes !== Infinity) {
      const bytes = JSON.stringify(row).length + 1;
      this.bytes += bytes;
      if (this.bytes > this.window.maxBytes) {
        this.stopAt(index, bytes);
        return;
      }
    }
    this.rows.push(row);
  }

  handleCommandComplete(): void {
    if (this.setupLeft > 0) {
      this.setupLeft -= 1;
      return;
    }
    // The user statement ran to its end.
    this.syncAndReset();
  }

  handlePortalSuspended(): void {
    if (this.synced) return;
    if (this.truncated || this.received >= this.wanted) {
      this.syncAndReset();
      return;
    }
    const protocol = this.connection as Protocol;
    const skipping = this.received < this.window.offset;
    const rows = Math.min(this.wanted - this.received, skipping ? BATCH_ROWS : BATCH_ROWS / 2);
    protocol.stream.cork?.();
    try {
      protocol.execute({ rows });
      // The last batch the window needs goes with the Sync and the reset, as in submit().
      if (this.received + rows >= this.wanted) this.syncAndReset();
      else protocol.flush();
    } finally {
      protocol.stream.uncork?.();
    }
  }

  handleEmptyQuery(): void {
    this.syncAndReset();
  }

  handleCopyInResponse(): void {
    // Cannot happen (the guard admits no COPY); never leave the backend waiting for data.
    this.connection?.sendCopyFail?.('COPY is not allowed in the sandbox');
  }

  handleCopyData(): void {}

  handleError(error: Error): void {
    // The backend now skips everything up to the Sync; if that has not been written yet, write it (and the
    // reset) now. node-postgres has already dropped this query, so the reset's receiver is queued here.
    messageSizeGuardOf(this.client)?.watch(undefined);
    this.syncAndReset();
    this.queueReset();
    this.reject(error);
  }

  handleReadyForQuery(): void {
    messageSizeGuardOf(this.client)?.watch(undefined);
    this.queueReset();
    this.resolve({
      fields: this.fields,
      rows: this.rows,
      truncated: this.truncated,
      ...(this.tooLarge ? { tooLarge: this.tooLarge } : {}),
    });
  }
}
