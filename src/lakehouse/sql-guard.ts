import { createRequire } from 'node:module';
import { AppError, type ErrorCode } from '../errors.js';
import { nestingBound } from './sql-nesting.js';
import { ALLOWED_FUNCTIONS, ALLOWED_FUNCTIONS_HINT, FUNCTION_SCHEMA } from './allowed-functions.js';

// The first line of the sandbox (docs/sql-sandbox.md): user SQL is parsed with the real PostgreSQL 17 parser
// (libpg-query, WASM, the major of the embedded cluster) and refused unless it is exactly one read statement.
// The database role's privileges and the READ ONLY transaction are the second and third lines: this check
// gives clear messages and closes the doors privileges cannot: only allowlisted functions are called
// (allowed-functions.ts; PostgreSQL grants EXECUTE to PUBLIC on ts_stat, query_to_xml, set_config…).

interface ParserModule {
  loadModule(): Promise<void>;
  parseSync(query: string): ParseResult;
}
interface SqlErrorDetails {
  message: string;
  cursorPosition: number;
}
type Node = Record<string, unknown>;
interface RawStatement {
  stmt: Node;
  stmt_location?: number;
  stmt_len?: number;
}
interface ParseResult {
  stmts?: RawStatement[];
}

// The package's ESM entry re-exports a CommonJS build; require() keeps its types out of our way.
const parser = createRequire(import.meta.url)('libpg-query') as ParserModule;
let loaded: Promise<void> | undefined;

/** Loads the WASM parser once per process (about 50 ms); call at start so no request pays for it. */
export function loadSqlParser(): Promise<void> {
  return (loaded ??= parser.loadModule());
}

/** `select` includes `TABLE name`, which PostgreSQL parses as `SELECT * FROM name`. */
export type StatementType = 'select' | 'values' | 'with_select';

export interface CheckedStatement {
  /** The one statement's text, without a trailing semicolon or surrounding comments. */
  text: string;
  statementType: StatementType;
}

export interface SqlProblem {
  message: string;
  /** 1-based character position in the given SQL, as PostgreSQL reports it. */
  position?: number;
  hint?: string;
}

/** A refusal before anything ran: the caller's SQL is not one read statement. */
export class SqlRefused extends AppError {
  constructor(
    readonly problem: SqlProblem,
    code: ErrorCode = 'sql_refused',
  ) {
    super(code, problem.hint ? `${problem.message}. ${problem.hint}` : problem.message);
  }
}

const WRITES = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

/** The statement kinds of the parse tree, for messages (`VariableSetStmt` → `SET`). */
const STATEMENT_NAMES: Record<string, string> = {
  VariableSetStmt: 'SET',
  VariableShowStmt: 'SHOW',
  TransactionStmt: 'a transaction command',
  InsertStmt: 'INSERT',
  UpdateStmt: 'UPDATE',
  DeleteStmt: 'DELETE',
  MergeStmt: 'MERGE',
  CopyStmt: 'COPY',
  DoStmt: 'DO',
  CreateExtensionStmt: 'CREATE EXTENSION',
  PrepareStmt: 'PREPARE',
  ExecuteStmt: 'EXECUTE',
  ExplainStmt: 'EXPLAIN (use explain_sql)',
  DropStmt: 'DROP',
  CreateStmt: 'CREATE TABLE',
  CreateTableAsStmt: 'CREATE TABLE AS',
  VariableResetStmt: 'RESET',
  DiscardStmt: 'DISCARD',
  LockStmt: 'LOCK',
  CallStmt: 'CALL',
  GrantStmt: 'GRANT',
  GrantRoleStmt: 'GRANT',
  AlterRoleSetStmt: 'ALTER ROLE',
};

const HINT = 'Send one SELECT (or WITH … SELECT, VALUES, TABLE) per call; nothing else runs here';

/**
 * The deepest parse tree let through to the parser, in the units of nestingBound(). The parser (WASM) runs out
 * of stack around 5,000 levels of operators or 1,200 nested subqueries, and a stack overflow inside it leaks
 * its memory for good: some thirty such inputs leave it unable to parse anything for the rest of the process.
 */
export const MAX_NESTING = 1_000;

const tooDeep = () =>
  new SqlRefused({
    message: `The SQL nests too deeply (more than ${MAX_NESTING} levels of operators, parentheses, CASE or subqueries)`,
    hint: 'Simplify it: aggregate many terms with sum() over a VALUES list or an array, or split it into several queries',
  });

/** Parses `sql`; a syntax error becomes a SqlRefused with the position PostgreSQL reports. */
function parse(sql: string): RawStatement[] {
  if (!loaded) throw new Error('loadSqlParser() was not awaited before the first parse');
  if (nestingBound(sql) > MAX_NESTING) throw tooDeep();
  try {
    return parser.parseSync(sql).stmts ?? [];
  } catch (error) {
    // A stack overflow (RangeError) that nestingBound() did not foresee, or the grammar's own stack limit.
    if (error instanceof RangeError) throw tooDeep();
    const details = (error as { sqlDetails?: SqlErrorDetails }).sqlDetails;
    const message = details?.message ?? (error instanceof Error ? error.message : String(error));
    if (/^memory exhausted\b/.test(message)) throw tooDeep();
    throw new SqlRefused(
      {
        message: `Syntax error: ${message}`,
        ...(details && details.cursorPosition >= 0 ? { position: details.cursorPosition + 1 } : {}),
        hint: 'Check the SQL near that position (PostgreSQL 17 syntax)',
      },
      'sql_syntax_error',
    );
  }
}

/** Every node of a parse tree, depth first in document order, with its type name; iterative, as trees can be deep. */
function* walk(root: unknown, rootType = ''): Generator<[string, Node]> {
  const pending: [unknown, string][] = [[root, rootType]];
  for (let item = pending.pop(); item; item = pending.pop()) {
    const [value, type] = item;
    if (value === null || typeof value !== 'object') continue;
    if (Array.isArray(value)) {
      for (let k = value.length - 1; k >= 0; k--) pending.push([value[k], '']);
      continue;
    }
    const node = value as Node;
    if (type) yield [type, node];
    const children = Object.entries(node);
    for (let k = children.length - 1; k >= 0; k--) {
      const [key, child] = children[k] as [string, unknown];
      if (child !== null && typeof child === 'object') pending.push([child, /^[A-Z]/.test(key) ? key : '']);
    }
  }
}

/**
 * The refusal of a call of a function that is not on the allowlist (allowed-functions.ts), or qualified with
 * a schema other than pg_catalog; undefined when the call is allowed. Names are compared as the parser
 * spelled them: `"COUNT"(x)` names another function than count(x).
 */
function refusedCall(call: Node, sql?: string): SqlRefused | undefined {
  const parts = ((call.funcname as { String?: { sval?: string } }[] | undefined) ?? []).map((part) => part.String?.sval ?? '');
  const name = parts[parts.length - 1] ?? '';
  const schema = parts.slice(0, -1);
  const ownSchema = schema.length === 0 || (schema.length === 1 && schema[0] === FUNCTION_SCHEMA);
  if (ownSchema && ALLOWED_FUNCTIONS.has(name)) return undefined;
  const position = sql !== undefined && typeof call.location === 'number' ? { position: charPosition(sql, call.location) } : {};
  return new SqlRefused({
    message: `The function ${ownSchema ? name : parts.join('.')}() is not allowed in the sandbox${ownSchema ? '' : `: only ${FUNCTION_SCHEMA} functions may be named with a schema`}`,
    ...position,
    hint: ALLOWED_FUNCTIONS_HINT,
  });
}

/** Other nodes that call functions the allowlist does not see: XMLTABLE evaluates XPath, TABLESAMPLE a method. */
function refusedNode(type: string, node: Node): SqlRefused | undefined {
  if (type === 'RangeTableFunc') return new SqlRefused({ message: 'XMLTABLE is not allowed in the sandbox', hint: ALLOWED_FUNCTIONS_HINT });
  if (type === 'RangeTableSample') {
    const method = (node.method as { String?: { sval?: string } }[] | undefined)?.map((part) => part.String?.sval ?? '').join('.');
    if (method !== 'system' && method !== 'bernoulli') {
      return new SqlRefused({
        message: `TABLESAMPLE ${method ?? ''} is not allowed in the sandbox`,
        hint: 'Use TABLESAMPLE SYSTEM or BERNOULLI',
      });
    }
  }
  return undefined;
}

/** Character offset (1-based) of a byte offset in `sql`: the parser counts UTF-8 bytes. */
function charPosition(sql: string, byteOffset: number): number {
  // Characters as PostgreSQL counts them (code points), not UTF-16 units.
  return [...Buffer.from(sql, 'utf8').subarray(0, byteOffset).toString('utf8')].length + 1;
}

/** Statements passed recently, by their exact text: parsing and walking the tree costs more than the rest of a point query. */
const passed = new Map<string, CheckedStatement>();
const PASSED_ENTRIES = 256;
const PASSED_MAX_LENGTH = 8_192;

/**
 * Checks that `sql` is exactly one read statement and answers its text and kind; throws SqlRefused
 * (HTTP 400, code `sql_refused` or `sql_syntax_error`) with a message that says what to do.
 * The check is a pure function of the text, so an identical text that passed before is answered from a
 * small LRU cache (a few recent statements of bounded length; refusals are not cached).
 */
export function checkReadStatement(sql: string): CheckedStatement {
  const cached = passed.get(sql);
  if (cached) {
    passed.delete(sql);
    passed.set(sql, cached);
    return cached;
  }
  const checked = Object.freeze(checkUncached(sql));
  if (sql.length <= PASSED_MAX_LENGTH) {
    passed.set(sql, checked);
    if (passed.size > PASSED_ENTRIES) passed.delete(passed.keys().next().value as string);
  }
  return checked;
}

function checkUncached(sql: string): CheckedStatement {
  // PostgreSQL text cannot hold NUL, and the parser (a C string) would stop reading there: refuse it
  // rather than check a prefix of what is sent.
  const nul = sql.indexOf('\0');
  if (nul >= 0) {
    throw new SqlRefused({
      message: 'The SQL holds a NUL character (\\0)',
      position: nul + 1,
      hint: 'Remove it; PostgreSQL text cannot contain NUL',
    });
  }
  // The parser answers a syntax error for an empty text, and "no statement" for `;` or a comment.
  const statements = sql.trim() === '' ? [] : parse(sql);
  if (statements.length === 0) {
    throw new SqlRefused({ message: 'The SQL holds no statement', hint: HINT });
  }
  if (statements.length > 1) {
    const second = statements[1];
    throw new SqlRefused({
      message: `The SQL holds ${statements.length} statements; only one is allowed`,
      ...(second?.stmt_location !== undefined ? { position: charPosition(sql, second.stmt_location) } : {}),
      hint: HINT,
    });
  }
  const [first] = statements as [RawStatement];
  const [kind, body] = Object.entries(first.stmt)[0] ?? ['', {}];
  if (kind !== 'SelectStmt') {
    const name =
      STATEMENT_NAMES[kind] ??
      kind
        .replace(/Stmt$/, '')
        .replace(/([a-z])([A-Z])/g, '$1 $2')
        .toUpperCase();
    throw new SqlRefused({ message: `${name} is not a read statement`, hint: HINT });
  }
  const select = body as Node;
  if (select.intoClause) throw new SqlRefused({ message: 'SELECT … INTO creates a table; it is not a read statement', hint: HINT });
  for (const [type, node] of walk(select, 'SelectStmt')) {
    if (WRITES.has(type)) {
      throw new SqlRefused({
        message: `A data-modifying WITH clause (${STATEMENT_NAMES[type] ?? type}) is not a read statement`,
        hint: HINT,
      });
    }
    if (type === 'SelectStmt' && Array.isArray(node.lockingClause) && node.lockingClause.length > 0) {
      throw new SqlRefused({
        message: 'FOR UPDATE / FOR SHARE takes row locks; the sandbox only reads',
        hint: 'Remove the locking clause',
      });
    }
    if (type === 'SelectStmt' && node.intoClause) {
      throw new SqlRefused({ message: 'SELECT … INTO creates a table; it is not a read statement', hint: HINT });
    }
    const refused = type === 'FuncCall' ? refusedCall(node, sql) : refusedNode(type, node);
    if (refused) throw refused;
  }
  const start = first.stmt_location ?? 0;
  const bytes = Buffer.from(sql, 'utf8');
  const text = bytes
    .subarray(start, first.stmt_len ? start + first.stmt_len : bytes.length)
    .toString('utf8')
    .trim();
  return { text, statementType: statementType(select) };
}

function statementType(select: Node): StatementType {
  if (select.withClause) return 'with_select';
  if (select.valuesLists) return 'values';
  return 'select';
}

/** The clauses `SELECT <expr> FROM t` parses into; anything more means `expr` was not one expression. */
const EXPRESSION_PROBE_KEYS = new Set(['targetList', 'fromClause', 'limitOption', 'op']);
const PROBE_TABLE = 'semantic_model_expression_probe';

/**
 * Checks that `expr` is exactly one SQL scalar expression (a semantic model's dimension, measure or filter):
 * parsed as `SELECT <expr> FROM t`, it must give one target without an alias, the one table and no other
 * clause, so that a comment, a second column, a FROM or a semicolon hidden in it is refused. The compiled
 * query is checked again as a whole (checkReadStatement) and runs in the sandbox.
 */
const notOneExpression = (expr: string) =>
  new SqlRefused({ message: `"${expr}" is not one SQL expression`, hint: 'Write a single scalar expression, e.g. `lower(country)`' });

export function checkExpression(expr: string, options: { functions?: boolean } = {}): void {
  const statements = parse(`SELECT ${expr} FROM ${PROBE_TABLE}`);
  const select = statements.length === 1 ? (statements[0]?.stmt.SelectStmt as Node | undefined) : undefined;
  const targets = select?.targetList as { ResTarget?: Node }[] | undefined;
  const from = select?.fromClause as { RangeVar?: Node }[] | undefined;
  const ok =
    select !== undefined &&
    Object.keys(select).every((key) => EXPRESSION_PROBE_KEYS.has(key)) &&
    targets?.length === 1 &&
    targets[0]?.ResTarget?.name === undefined &&
    from?.length === 1 &&
    from[0]?.RangeVar?.relname === PROBE_TABLE &&
    from[0].RangeVar.alias === undefined;
  if (!ok) throw notOneExpression(expr);
  for (const [type, node] of walk(select)) {
    // A bare `*` (or `t.*`) parses as a column list, not one value.
    if (type === 'A_Star') throw notOneExpression(expr);
    if (WRITES.has(type)) throw new SqlRefused({ message: `"${expr}" modifies data`, hint: HINT });
    // On DuckDB (options.functions false) the worker's statement guard is the line, not PostgreSQL's function list.
    const refused = type === 'FuncCall' ? (options.functions === false ? undefined : refusedCall(node)) : refusedNode(type, node);
    if (refused) throw refused;
  }
}
