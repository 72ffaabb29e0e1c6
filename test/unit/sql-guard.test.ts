import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  checkExpression,
  checkReadStatement,
  loadSqlParser,
  MAX_NESTING,
  SqlRefused,
  type CheckedStatement,
} from '../../src/lakehouse/sql-guard.js';
import { nestingBound } from '../../src/lakehouse/sql-nesting.js';

// The SQL guard's verdicts (docs/sql-sandbox.md), with the PostgreSQL parser (WASM) and no database:
// exactly one read statement passes; everything else is refused with a code and a message that says why.
// The same rules through the API are in test/integration/lakehouse/sql-guard.test.ts.

before(async () => {
  await loadSqlParser();
});

/** The refusal `check` throws for `input`; fails when it passes or throws anything else. */
function refusal(input: string, check: (sql: string) => unknown = checkReadStatement): SqlRefused {
  try {
    check(input);
  } catch (error) {
    assert.ok(error instanceof SqlRefused, `threw ${String(error)}`);
    return error;
  }
  assert.fail(`${input.slice(0, 80)} passed the guard`);
}

interface Refused {
  code: 'sql_refused' | 'sql_syntax_error';
  /** The start of the message (before the hint). */
  message: string;
  /** 1-based; undefined when the refusal names no position. */
  position?: number;
}

const plus = (terms: number) => `SELECT ${Array(terms).fill('1').join('+')}`;
const parens = (levels: number) => `SELECT ${'('.repeat(levels)}1${')'.repeat(levels)}`;
const subqueries = (levels: number) => `SELECT ${'(SELECT '.repeat(levels)}1${')'.repeat(levels)}`;
const cases = (levels: number) => `SELECT ${'CASE WHEN true THEN '.repeat(levels)}1${' END'.repeat(levels)}`;

describe('sql guard: one read statement passes', () => {
  const accepted: { name: string; input: string; expected: CheckedStatement }[] = [
    { name: 'SELECT', input: 'SELECT 1', expected: { text: 'SELECT 1', statementType: 'select' } },
    { name: 'lower case, trailing semicolon and spaces', input: '  select 1 ;  ', expected: { text: 'select 1', statementType: 'select' } },
    {
      name: 'a trailing comment after the semicolon is cut',
      input: '-- why\nSELECT 1; -- tail',
      expected: { text: '-- why\nSELECT 1', statementType: 'select' },
    },
    {
      name: 'WITH … SELECT',
      input: 'WITH t AS (SELECT 1 AS x) SELECT x FROM t',
      expected: { text: 'WITH t AS (SELECT 1 AS x) SELECT x FROM t', statementType: 'with_select' },
    },
    { name: 'VALUES', input: 'VALUES (1), (2)', expected: { text: 'VALUES (1), (2)', statementType: 'values' } },
    { name: 'TABLE name (SELECT * FROM name)', input: 'TABLE events', expected: { text: 'TABLE events', statementType: 'select' } },
    { name: 'a parenthesized SELECT', input: '(SELECT 1)', expected: { text: '(SELECT 1)', statementType: 'select' } },
    { name: 'UNION', input: 'SELECT 1 UNION SELECT 2', expected: { text: 'SELECT 1 UNION SELECT 2', statementType: 'select' } },
    {
      name: 'aggregates and date functions',
      input: "SELECT count(*), date_trunc('day', occurred_at) FROM events GROUP BY 2",
      expected: { text: "SELECT count(*), date_trunc('day', occurred_at) FROM events GROUP BY 2", statementType: 'select' },
    },
    {
      name: 'a function qualified with pg_catalog',
      input: 'SELECT pg_catalog.count(*) FROM events',
      expected: { text: 'SELECT pg_catalog.count(*) FROM events', statementType: 'select' },
    },
    {
      name: 'TABLESAMPLE BERNOULLI',
      input: 'SELECT * FROM events TABLESAMPLE BERNOULLI (10)',
      expected: { text: 'SELECT * FROM events TABLESAMPLE BERNOULLI (10)', statementType: 'select' },
    },
    {
      // Tables are not the guard's business: the sandbox role's privileges decide what it can read.
      name: 'a catalog table (privileges, not the guard, decide)',
      input: 'SELECT * FROM pg_catalog.pg_authid',
      expected: { text: 'SELECT * FROM pg_catalog.pg_authid', statementType: 'select' },
    },
    {
      name: 'information_schema (privileges, not the guard, decide)',
      input: 'SELECT table_name FROM information_schema.tables',
      expected: { text: 'SELECT table_name FROM information_schema.tables', statementType: 'select' },
    },
    {
      name: 'a string full of brackets does not count as nesting',
      input: `SELECT '${'('.repeat(5000)}'`,
      expected: { text: `SELECT '${'('.repeat(5000)}'`, statementType: 'select' },
    },
    {
      name: `${MAX_NESTING} chained operators (the limit)`,
      input: plus(MAX_NESTING + 1),
      expected: { text: plus(MAX_NESTING + 1), statementType: 'select' },
    },
    { name: '250 nested parentheses (the limit)', input: parens(250), expected: { text: parens(250), statementType: 'select' } },
    { name: '250 nested subqueries', input: subqueries(250), expected: { text: subqueries(250), statementType: 'select' } },
  ];
  for (const { name, input, expected } of accepted) {
    it(name, () => {
      assert.deepEqual({ ...checkReadStatement(input) }, expected);
      // The second call is answered from the cache of passed statements: the same verdict.
      assert.deepEqual({ ...checkReadStatement(input) }, expected);
    });
  }
});

describe('sql guard: everything else is refused', () => {
  const NOT_READ = 'is not a read statement. Send one SELECT (or WITH … SELECT, VALUES, TABLE) per call';
  const TOO_DEEP = `The SQL nests too deeply (more than ${MAX_NESTING} levels of operators, parentheses, CASE or subqueries)`;
  const refused: { name: string; input: string; expected: Refused }[] = [
    // Writes and DDL
    { name: 'INSERT', input: 'INSERT INTO t VALUES (1)', expected: { code: 'sql_refused', message: `INSERT ${NOT_READ}` } },
    { name: 'UPDATE', input: 'UPDATE t SET a = 1', expected: { code: 'sql_refused', message: `UPDATE ${NOT_READ}` } },
    { name: 'DELETE', input: 'DELETE FROM t', expected: { code: 'sql_refused', message: `DELETE ${NOT_READ}` } },
    {
      name: 'MERGE',
      input: 'MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE',
      expected: { code: 'sql_refused', message: `MERGE ${NOT_READ}` },
    },
    { name: 'DROP', input: 'DROP TABLE events', expected: { code: 'sql_refused', message: `DROP ${NOT_READ}` } },
    { name: 'CREATE TABLE', input: 'CREATE TABLE x (a int)', expected: { code: 'sql_refused', message: `CREATE TABLE ${NOT_READ}` } },
    {
      name: 'CREATE TABLE AS',
      input: 'CREATE TABLE x AS SELECT 1',
      expected: { code: 'sql_refused', message: `CREATE TABLE AS ${NOT_READ}` },
    },
    {
      name: 'ALTER TABLE (a name derived from the node)',
      input: 'ALTER TABLE t ADD COLUMN x int',
      expected: { code: 'sql_refused', message: `ALTER TABLE ${NOT_READ}` },
    },
    { name: 'GRANT', input: 'GRANT SELECT ON t TO u', expected: { code: 'sql_refused', message: `GRANT ${NOT_READ}` } },
    { name: 'COPY', input: 'COPY t TO STDOUT', expected: { code: 'sql_refused', message: `COPY ${NOT_READ}` } },
    // Session and utility commands
    { name: 'SET', input: 'SET work_mem = 1', expected: { code: 'sql_refused', message: `SET ${NOT_READ}` } },
    { name: 'SHOW', input: 'SHOW work_mem', expected: { code: 'sql_refused', message: `SHOW ${NOT_READ}` } },
    { name: 'BEGIN', input: 'BEGIN', expected: { code: 'sql_refused', message: `a transaction command ${NOT_READ}` } },
    { name: 'DO', input: 'DO $$ BEGIN END $$', expected: { code: 'sql_refused', message: `DO ${NOT_READ}` } },
    { name: 'CALL', input: 'CALL p()', expected: { code: 'sql_refused', message: `CALL ${NOT_READ}` } },
    { name: 'LOCK', input: 'LOCK TABLE t', expected: { code: 'sql_refused', message: `LOCK ${NOT_READ}` } },
    { name: 'PREPARE', input: 'PREPARE p AS SELECT 1', expected: { code: 'sql_refused', message: `PREPARE ${NOT_READ}` } },
    { name: 'VACUUM', input: 'VACUUM', expected: { code: 'sql_refused', message: `VACUUM ${NOT_READ}` } },
    { name: 'LISTEN', input: 'LISTEN x', expected: { code: 'sql_refused', message: `LISTEN ${NOT_READ}` } },
    // EXPLAIN has its own tool (explain_sql), which wraps the checked statement itself.
    {
      name: 'EXPLAIN (explain_sql does that)',
      input: 'EXPLAIN SELECT 1',
      expected: { code: 'sql_refused', message: `EXPLAIN (use explain_sql) ${NOT_READ}` },
    },
    {
      name: 'EXPLAIN ANALYZE of a write',
      input: 'EXPLAIN ANALYZE DELETE FROM events',
      expected: { code: 'sql_refused', message: `EXPLAIN (use explain_sql) ${NOT_READ}` },
    },
    // Reads that write or lock
    {
      name: 'SELECT … INTO',
      input: 'SELECT 1 INTO t',
      expected: { code: 'sql_refused', message: 'SELECT … INTO creates a table; it is not a read statement' },
    },
    {
      name: 'FOR UPDATE',
      input: 'SELECT * FROM events FOR UPDATE',
      expected: {
        code: 'sql_refused',
        message: 'FOR UPDATE / FOR SHARE takes row locks; the sandbox only reads. Remove the locking clause',
      },
    },
    {
      name: 'FOR SHARE in a subquery',
      input: 'SELECT * FROM (SELECT * FROM events FOR SHARE) e',
      expected: { code: 'sql_refused', message: 'FOR UPDATE / FOR SHARE takes row locks' },
    },
    {
      name: 'a data-modifying WITH',
      input: 'WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d',
      expected: { code: 'sql_refused', message: 'A data-modifying WITH clause (DELETE) is not a read statement' },
    },
    {
      name: 'a data-modifying WITH (INSERT)',
      input: 'WITH i AS (INSERT INTO t VALUES (1) RETURNING *) SELECT 1',
      expected: { code: 'sql_refused', message: 'A data-modifying WITH clause (INSERT) is not a read statement' },
    },
    // Not exactly one statement
    {
      name: 'two SELECTs, positioned after the first',
      input: 'SELECT 1; SELECT 2',
      expected: { code: 'sql_refused', message: 'The SQL holds 2 statements; only one is allowed', position: 10 },
    },
    {
      name: 'a read then a write',
      input: 'SELECT 1; DROP TABLE events',
      expected: { code: 'sql_refused', message: 'The SQL holds 2 statements; only one is allowed', position: 10 },
    },
    {
      name: 'three statements',
      input: 'SELECT 1; SELECT 2; SELECT 3',
      expected: { code: 'sql_refused', message: 'The SQL holds 3 statements; only one is allowed', position: 10 },
    },
    {
      name: 'the position counts characters, not UTF-8 bytes',
      input: "SELECT 'ééé'; SELECT 1",
      expected: { code: 'sql_refused', message: 'The SQL holds 2 statements', position: 14 },
    },
    { name: 'a lone semicolon', input: ';', expected: { code: 'sql_refused', message: 'The SQL holds no statement' } },
    { name: 'only a comment', input: '-- nothing here', expected: { code: 'sql_refused', message: 'The SQL holds no statement' } },
    {
      name: 'an empty string holds no statement',
      input: '',
      expected: { code: 'sql_refused', message: 'The SQL holds no statement' },
    },
    {
      name: 'a NUL character',
      input: 'SELECT \0 1',
      expected: { code: 'sql_refused', message: 'The SQL holds a NUL character (\\0). Remove it', position: 8 },
    },
    // Syntax errors
    {
      name: 'a misspelled keyword',
      input: 'SELEC 1',
      expected: { code: 'sql_syntax_error', message: 'Syntax error: syntax error at or near "SELEC"', position: 1 },
    },
    {
      name: 'a clause without its content',
      input: 'SELECT FROM WHERE',
      expected: { code: 'sql_syntax_error', message: 'Syntax error: syntax error at or near "WHERE"', position: 13 },
    },
    {
      name: 'a syntax error after multi-byte characters: a character position',
      input: "SELECT 'éééé' FROM WHERE",
      expected: { code: 'sql_syntax_error', message: 'Syntax error: syntax error at or near "WHERE"', position: 20 },
    },
    // Functions off the allowlist
    {
      name: 'set_config',
      input: "SELECT set_config('work_mem', '1GB', false)",
      expected: {
        code: 'sql_refused',
        message: 'The function set_config() is not allowed in the sandbox. Only analyst functions',
        position: 8,
      },
    },
    {
      name: 'pg_read_file after multi-byte characters',
      input: "SELECT 'ééé', pg_read_file('x')",
      expected: { code: 'sql_refused', message: 'The function pg_read_file() is not allowed in the sandbox', position: 15 },
    },
    {
      name: 'a function position after an astral character counts it once, as PostgreSQL does',
      input: "SELECT '😀😀', pg_read_file('x')",
      expected: { code: 'sql_refused', message: 'The function pg_read_file() is not allowed in the sandbox', position: 14 },
    },
    {
      name: 'a set-returning function in FROM',
      input: "SELECT * FROM lo_import('/etc/passwd')",
      expected: { code: 'sql_refused', message: 'The function lo_import() is not allowed in the sandbox', position: 15 },
    },
    {
      name: 'a forbidden function inside an allowed one',
      input: "SELECT length(pg_read_file('x'))",
      expected: { code: 'sql_refused', message: 'The function pg_read_file() is not allowed in the sandbox', position: 15 },
    },
    {
      name: 'a forbidden function in a CTE',
      input: "WITH t AS (SELECT set_config('a', 'b', false)) SELECT * FROM t",
      expected: { code: 'sql_refused', message: 'The function set_config() is not allowed in the sandbox', position: 19 },
    },
    {
      name: 'a quoted name keeps its case: "COUNT" is not count',
      input: 'SELECT "COUNT"(*) FROM events',
      expected: { code: 'sql_refused', message: 'The function COUNT() is not allowed in the sandbox', position: 8 },
    },
    {
      name: 'an allowed name in another schema',
      input: 'SELECT public.count(*) FROM events',
      expected: {
        code: 'sql_refused',
        message: 'The function public.count() is not allowed in the sandbox: only pg_catalog functions may be named with a schema',
        position: 8,
      },
    },
    {
      name: 'XMLTABLE',
      input: "SELECT * FROM XMLTABLE('/a' PASSING '<a/>' COLUMNS x int)",
      expected: { code: 'sql_refused', message: 'XMLTABLE is not allowed in the sandbox' },
    },
    {
      name: 'TABLESAMPLE with another method',
      input: 'SELECT * FROM events TABLESAMPLE system_rows (10)',
      expected: {
        code: 'sql_refused',
        message: 'TABLESAMPLE system_rows is not allowed in the sandbox. Use TABLESAMPLE SYSTEM or BERNOULLI',
      },
    },
    // Too deep for the parser
    { name: `${MAX_NESTING + 1} chained operators`, input: plus(MAX_NESTING + 2), expected: { code: 'sql_refused', message: TOO_DEEP } },
    { name: '251 nested parentheses', input: parens(251), expected: { code: 'sql_refused', message: TOO_DEEP } },
    { name: '300 nested subqueries', input: subqueries(300), expected: { code: 'sql_refused', message: TOO_DEEP } },
    { name: '300 nested CASE', input: cases(300), expected: { code: 'sql_refused', message: TOO_DEEP } },
    { name: '1,001 NOTs', input: `SELECT ${'NOT '.repeat(1001)}true`, expected: { code: 'sql_refused', message: TOO_DEEP } },
  ];
  for (const { name, input, expected } of refused) {
    it(name, () => {
      const error = refusal(input);
      assert.equal(error.status, 400);
      assert.equal(error.code, expected.code);
      assert.ok(error.message.startsWith(expected.message), `message: ${error.message}`);
      assert.equal(error.problem.position, expected.position);
    });
  }
});

describe('sql guard: one scalar expression (semantic models)', () => {
  const accepted: { name: string; input: string }[] = [
    { name: 'a column', input: 'events.user_id' },
    { name: 'a function call', input: 'lower(country)' },
    { name: 'a cast of a JSON field', input: "(events.properties->>'amount')::numeric" },
    { name: 'a comparison', input: "events.event = 'signup'" },
    { name: 'CASE', input: 'case when a then 1 else 0 end' },
    { name: 'a window function', input: 'count(*) over ()' },
    { name: 'a scalar subquery', input: '(SELECT 1)' },
    { name: 'a trailing block comment', input: 'x /* why */' },
  ];
  for (const { name, input } of accepted) {
    it(`accepts ${name}`, () => assert.equal(checkExpression(input), undefined));
  }

  const NOT_ONE = (expr: string) => `"${expr}" is not one SQL expression. Write a single scalar expression`;
  const refused: { name: string; input: string; expected: Refused }[] = [
    { name: 'two expressions', input: 'a, b', expected: { code: 'sql_refused', message: NOT_ONE('a, b') } },
    { name: 'an alias', input: 'a AS b', expected: { code: 'sql_refused', message: NOT_ONE('a AS b') } },
    { name: 'DISTINCT', input: 'DISTINCT x', expected: { code: 'sql_refused', message: NOT_ONE('DISTINCT x') } },
    { name: 'a line comment that would swallow the rest', input: 'x -- c', expected: { code: 'sql_refused', message: NOT_ONE('x -- c') } },
    { name: 'nothing', input: '', expected: { code: 'sql_refused', message: NOT_ONE('') } },
    {
      name: 'a FROM of its own',
      input: 'a FROM t',
      expected: { code: 'sql_syntax_error', message: 'Syntax error: syntax error at or near "FROM"' },
    },
    { name: 'a second statement', input: '1; DROP TABLE x', expected: { code: 'sql_syntax_error', message: 'Syntax error:' } },
    { name: 'a WHERE of its own', input: 'a WHERE true', expected: { code: 'sql_syntax_error', message: 'Syntax error:' } },
    {
      name: 'breaking out of the parentheses',
      input: 'a) FROM t; SELECT (1',
      expected: { code: 'sql_syntax_error', message: 'Syntax error: syntax error at or near ")"' },
    },
    {
      name: 'a forbidden function',
      input: "set_config('a', 'b', false)",
      expected: { code: 'sql_refused', message: 'The function set_config() is not allowed in the sandbox' },
    },
    {
      name: 'a data-modifying subquery',
      input: '(WITH d AS (DELETE FROM t RETURNING 1) SELECT 1)',
      expected: { code: 'sql_refused', message: '"(WITH d AS (DELETE FROM t RETURNING 1) SELECT 1)" modifies data' },
    },
    {
      name: 'a bare * (not a scalar expression)',
      input: '*',
      expected: { code: 'sql_refused', message: NOT_ONE('*') },
    },
  ];
  for (const { name, input, expected } of refused) {
    it(`refuses ${name}`, () => {
      const error = refusal(input, checkExpression);
      assert.equal(error.code, expected.code);
      assert.ok(error.message.startsWith(expected.message), `message: ${error.message}`);
    });
  }
});

describe('nestingBound: depth from the tokens alone', () => {
  const bounds: { name: string; input: string; expected: number }[] = [
    { name: 'a literal', input: 'SELECT 1', expected: 0 },
    { name: 'two operators', input: 'SELECT 1+1+1', expected: 2 },
    { name: 'a parenthesis costs 4', input: 'SELECT (1)', expected: 4 },
    { name: 'commas start siblings', input: `SELECT ${Array(3000).fill('1').join(', ')}`, expected: 0 },
    { name: 'AND starts a sibling', input: `SELECT ${Array(3000).fill('true').join(' AND ')}`, expected: 1 },
    { name: 'BETWEEN … AND is one operator', input: 'SELECT a BETWEEN 1 AND 2', expected: 3 },
    { name: 'casts chain', input: 'SELECT a::int::text', expected: 5 },
    { name: 'UNIONs chain', input: 'SELECT 1 UNION SELECT 2 UNION SELECT 3', expected: 2 },
    { name: 'JOINs chain', input: 'SELECT * FROM a JOIN b ON true JOIN c ON true', expected: 4 },
    { name: 'brackets in a string', input: "SELECT 'it''s ((('", expected: 0 },
    { name: "brackets in an E'' string with an escaped quote", input: "SELECT E'\\'(((('", expected: 0 },
    { name: 'brackets in a dollar-quoted string', input: 'SELECT $tag$ ((( $tag$', expected: 0 },
    { name: 'brackets in a line comment', input: 'SELECT 1 -- (((((', expected: 0 },
    { name: 'brackets in nested block comments', input: 'SELECT /* ( /* nested ( */ */ 1', expected: 0 },
    { name: '250 parentheses', input: parens(250), expected: 1000 },
  ];
  for (const { name, input, expected } of bounds) {
    it(name, () => assert.equal(nestingBound(input), expected));
  }
});
