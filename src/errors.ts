/**
 * The closed vocabulary of errors (after node-oidc-provider and jose): every problem document (/api/v1) and
 * every tool error (/v1, `_meta["lakehouse-mcp/error"].code`) carries one of these codes, with the HTTP status
 * the table gives it. The table is the one source: codegen makes it the `code` enum of the contract's Problem
 * schema and the page docs/reference/errors.md. Adding a code is not a breaking change (clients must handle
 * codes they do not know); removing one is. The OAuth endpoints answer RFC 6749 error bodies instead
 * (src/oauth/errors.ts), and the MCP transport JSON-RPC errors.
 */
export const ERROR_CODES = {
  // The request itself
  validation_failed: { status: 400, meaning: 'The request does not match its schema; `errors` lists every violation.' },
  bad_request: { status: 400, meaning: 'The HTTP request is malformed (for example a body that ended early).' },
  malformed_json: { status: 400, meaning: 'The body is not valid JSON.' },
  body_required: { status: 400, meaning: 'The route needs a request body and got none.' },
  invalid_cursor: { status: 400, meaning: 'The page cursor is not one this server gave; pass `next_cursor` as it was.' },
  invalid_since: { status: 400, meaning: '`since` is neither an ISO-8601 time nor a duration such as `24h` or `7d`.' },
  payload_too_large: { status: 413, meaning: 'The body, or a value in it, is larger than its limit; the detail names the limit.' },
  unsupported_media_type: { status: 415, meaning: 'The body has a content type this route does not take.' },
  request_timeout: { status: 408, meaning: 'The client sent its request too slowly; the connection was closed.' },
  method_not_allowed: { status: 405, meaning: 'The route exists but not for this HTTP method; `Allow` lists the methods.' },
  not_implemented: { status: 501, meaning: 'The HTTP method is not supported by this server.' },

  // Who is asking
  unauthorized: { status: 401, meaning: 'No bearer token was sent; `WWW-Authenticate` says where to get one.' },
  invalid_token: { status: 401, meaning: 'The bearer token is invalid, expired, revoked or for another resource.' },
  insufficient_scope: { status: 403, meaning: 'The token lacks the scope the operation needs (`read` or `write`).' },
  forbidden: { status: 403, meaning: 'The caller may not do this (for example: only admins approve discoveries).' },

  // What is asked for
  not_found: { status: 404, meaning: 'No such route, or no such object in this environment.' },
  unknown_tool: { status: 404, meaning: 'No tool of that name; `tools/list` names the tools this token may call.' },
  conflict: { status: 409, meaning: 'The object changed since it was read (its `version` differs); read it again and retry.' },
  idempotency_conflict: {
    status: 409,
    meaning: 'The `idempotency_key` was used for a different input, or its first call is still running.',
  },

  // SQL and the lakehouse
  sql_refused: { status: 400, meaning: 'The SQL is not a single read-only statement the sandbox allows; the detail says why.' },
  sql_syntax_error: { status: 400, meaning: 'The SQL does not parse; `position` points at the error where known.' },
  sql_error: { status: 400, meaning: 'The database rejected the statement (unknown column, bad cast, …).' },
  read_only: { status: 400, meaning: 'The statement tried to write; the sandbox only reads.' },
  permission_denied: { status: 403, meaning: 'The SQL touches a table this environment may not read.' },
  query_timeout: { status: 400, meaning: 'The statement ran past its `timeout_ms` and was cancelled.' },
  out_of_memory: { status: 400, meaning: 'The statement needed more memory than a query may use and was stopped; narrow it.' },
  answer_too_large: { status: 400, meaning: 'The answer exceeds the size cap of one message; ask for fewer rows or columns.' },
  row_too_large: { status: 400, meaning: 'One row alone exceeds the size cap; the detail names it (`offset`) and how to skip it.' },
  invalid_query: { status: 400, meaning: 'A semantic-model query names a measure, dimension or filter the model lacks.' },
  invalid_model: { status: 400, meaning: 'A semantic model is not valid; the detail lists its problems.' },
  invalid_load: { status: 400, meaning: 'Rows to load are malformed; the detail names the line.' },
  busy: { status: 429, meaning: 'The environment runs its maximum of concurrent SQL statements (SQL_CONCURRENCY); retry.' },
  connection_failed: { status: 503, meaning: 'The server cannot reach the external database of a connection.' },
  export_too_large: {
    status: 400,
    meaning: 'A full result would exceed EXPORT_MAX_BYTES; nothing was kept. Narrow the query or export parquet.',
  },
  export_quota_exceeded: {
    status: 429,
    meaning: "The environment's result files fill RESULT_QUOTA_BYTES; the detail says when the oldest expires.",
  },
  too_many_exports: { status: 429, meaning: 'The environment writes its maximum of results at once (EXPORT_CONCURRENCY_PER_ENV); retry.' },

  // Saved assets
  invalid_task: {
    status: 400,
    meaning:
      "A scheduled task's schedule or definition is not valid, or the environment has its maximum of tasks; the detail says how to fix it.",
  },
  invalid_parameters: { status: 400, meaning: "An insight's parameters do not match its SQL or the values given." },
  invalid_layout: { status: 400, meaning: "A dashboard's widgets or variables do not fit its grid or repeat a name." },
  chart_column_missing: { status: 400, meaning: "A chart names a column the insight's result does not have." },
  insight_deleted: {
    status: 404,
    meaning: "A dashboard widget's insight was deleted (view_dashboard's widget `error`); replace or remove it.",
  },

  // Limits and the server
  rate_limited: { status: 429, meaning: 'The environment made more tool calls this minute than TOOL_CALL_LIMIT; see `Retry-After`.' },
  too_many_connections: { status: 429, meaning: 'The client holds more connections than MAX_CONNECTIONS_PER_CLIENT.' },
  cancelled: { status: 499, meaning: 'The client cancelled the call or went away (seen in the audit trail, never sent).' },
  internal_error: { status: 500, meaning: 'An unexpected failure; quote the `instance` (request id) when reporting it.' },
  unavailable: { status: 503, meaning: 'The server is at capacity or a part of it is not running; retry later.' },
  database_unavailable: { status: 503, meaning: "The server's database does not answer; see `Retry-After`." },
  starting: { status: 503, meaning: 'The server is starting (migrating, indexing); retry in a moment.' },
} as const satisfies Record<string, { status: number; meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export const isErrorCode = (value: string): value is ErrorCode => Object.hasOwn(ERROR_CODES, value);

export interface Violation {
  /** `body`, `query` or `path`, then a JSON pointer, e.g. `query/limit`. */
  location: string;
  message: string;
}

/**
 * Where a SQL error is in the statement and what the engine suggests, the same on every engine and path:
 * tool errors carry these fields in `_meta["lakehouse-mcp/error"]`, problem documents at their top level.
 */
export interface SqlErrorSpot {
  /** 1-based character position in the SQL as the caller sent it. */
  position?: number;
  /** 1-based line and column of `position`. */
  line?: number;
  column?: number;
  /** The engine's suggestion (PostgreSQL's HINT, DuckDB's "Did you mean …?"). */
  hint?: string;
}

/**
 * An error with a code of the table above; its HTTP status comes from the table. The message reaches the
 * caller only when the status is below 500: a 5xx says nothing about internals.
 */
export class AppError extends Error {
  readonly status: number;
  readonly expose: boolean;
  readonly violations: Violation[] | undefined;
  readonly headers: Record<string, string> | undefined;
  /** A SQL error's position and hint. */
  readonly sql: SqlErrorSpot | undefined;
  constructor(
    readonly code: ErrorCode,
    message: string,
    extra: { violations?: Violation[]; headers?: Record<string, string>; sql?: SqlErrorSpot } = {},
  ) {
    super(message);
    this.name = 'AppError';
    this.status = ERROR_CODES[code].status;
    this.expose = this.status < 500;
    this.violations = extra.violations;
    this.headers = extra.headers;
    this.sql = extra.sql;
  }
}

export const validationFailed = (violations: Violation[]) =>
  new AppError(
    'validation_failed',
    `The request does not match its schema (${violations.length} problem${violations.length === 1 ? '' : 's'}): ${violations
      .map((v) => `${v.location} ${v.message}`)
      .join('; ')}`,
    { violations },
  );

export const notFound = (message: string) => new AppError('not_found', message);

export const internalError = () => new AppError('internal_error', 'Internal server error');

/** The reason of an aborted call: the client hung up or cancelled it (not an AppError: nobody is left to tell). */
export class CancelledError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'CancelledError';
  }
}
