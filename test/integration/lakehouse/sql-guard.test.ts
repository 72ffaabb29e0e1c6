import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { ALLOWED_FUNCTIONS } from '../../../src/lakehouse/allowed-functions.js';
import { checkExpression, checkReadStatement, loadSqlParser, SqlRefused } from '../../../src/lakehouse/sql-guard.js';
import { call, callError, startLakehouseHarness, type LakehouseHarness } from './harness.js';

// The PostgreSQL SQL guard's function allowlist and its bound on nesting (issue: SQL guard, items 2 and 3):
// unit-level through checkReadStatement/checkExpression, then through query_lakehouse (MCP) and POST
// /api/v1/lakehouse/query on an external connection (the harness's `warehouse`), where the guard applies.

/** The refusal checkReadStatement (or `check`) throws for `text`; fails when it passes or throws anything else. */
function refusal(text: string, check: (text: string) => unknown = checkReadStatement): SqlRefused {
  try {
    check(text);
  } catch (error) {
    assert.ok(error instanceof SqlRefused, `${text.slice(0, 80)}: threw ${String(error)}`);
    return error;
  }
  assert.fail(`${text.slice(0, 80)} passed the guard`);
}

const plus = (terms: number) => `SELECT ${Array(terms).fill('1').join('+')}`;

before(async () => {
  await loadSqlParser();
});

describe('sql guard: functions are allowed by name, everything else is refused', () => {
  it('refuses the ts_stat escape of the issue, naming the function and where it is', () => {
    const text = "SELECT * FROM ts_stat('SELECT to_tsvector(set_config(''work_mem'', ''1GB'', false))')";
    const error = refusal(text);
    assert.equal(error.code, 'sql_refused');
    assert.match(error.message, /^The function ts_stat\(\) is not allowed in the sandbox\. Only analyst functions/);
    assert.equal(error.problem.position, text.indexOf('ts_stat') + 1);
    const terminate = refusal("SELECT word FROM ts_stat('SELECT to_tsvector(pg_terminate_backend(pid)::text) FROM pg_stat_activity')");
    assert.match(terminate.message, /ts_stat\(\) is not allowed in the sandbox/);
  });

  it('refuses functions that run query text or reach outside the statement', () => {
    const cases: Record<string, string> = {
      ts_rewrite: "SELECT ts_rewrite('a & b'::tsquery, 'SELECT t, s FROM aliases')",
      query_to_xml: "SELECT query_to_xml('SELECT 1', true, false, '')",
      xpath: "SELECT xpath('/row/x/text()', query_to_xml('SELECT 1 AS x', true, false, ''))",
      xmlexists: "SELECT xmlexists('/a' PASSING BY VALUE ('<a/>'::xml))",
      database_to_xml: "SELECT database_to_xml(true, false, '')",
      table_to_xml: "SELECT table_to_xml('users', true, false, '')",
      cursor_to_xml: "SELECT cursor_to_xml('c', 10, true, false, '')",
      dblink: "SELECT * FROM dblink('dbname=postgres', 'SELECT 1') AS t(x int)",
      lo_get: 'SELECT lo_get(1234)',
      pg_read_file: "SELECT pg_read_file('/etc/passwd')",
      pg_ls_dir: "SELECT pg_ls_dir('.')",
      set_config: "SELECT set_config('work_mem', '1GB', false)",
      nextval: "SELECT nextval('order_ids')",
      setval: "SELECT setval('order_ids', 1)",
      pg_advisory_lock: 'SELECT pg_advisory_lock(1)',
      pg_advisory_xact_lock: 'SELECT pg_advisory_xact_lock(1)',
      pg_terminate_backend: 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity',
      pg_cancel_backend: 'SELECT pg_cancel_backend(1)',
      pg_notify: "SELECT pg_notify('c', 'x')",
      pg_current_xact_id: 'SELECT pg_current_xact_id()',
      txid_current: 'SELECT txid_current()',
      setseed: 'SELECT setseed(0.5)',
      pg_sleep_for: "SELECT pg_sleep_for('1 minute')",
    };
    for (const [name, text] of Object.entries(cases)) {
      assert.match(refusal(text).message, new RegExp(`^The function ${name}\\(\\) is not allowed in the sandbox`), text);
    }
  });

  it('refuses by default a function nobody listed', () => {
    for (const [text, name] of [
      ['SELECT pg_stat_get_backend_pid(1)', 'pg_stat_get_backend_pid'],
      ['SELECT pg_current_logfile()', 'pg_current_logfile'],
      ['SELECT write_note()', 'write_note'],
      ['SELECT inet_server_addr()', 'inet_server_addr'],
      // The parser keeps a quoted name's case: "COUNT" is another function than count.
      ['SELECT "COUNT"(*) FROM events', 'COUNT'],
    ] as const) {
      assert.match(refusal(text).message, new RegExp(`^The function ${name}\\(\\) is not allowed in the sandbox`), text);
    }
  });

  it('allows pg_catalog-qualified analyst functions and refuses any other schema', () => {
    assert.equal(checkReadStatement("SELECT pg_catalog.lower('A'), pg_catalog.count(*) FROM events").statementType, 'select');
    for (const text of ["SELECT public.lower('A')", 'SELECT lakehouse.count(*) FROM events', "SELECT other_db.pg_catalog.lower('A')"]) {
      assert.match(refusal(text).message, /is not allowed in the sandbox: only pg_catalog functions may be named with a schema/, text);
    }
    assert.match(
      refusal("SELECT pg_catalog.pg_read_file('/etc/passwd')").message,
      /^The function pg_read_file\(\) is not allowed in the sandbox\./,
    );
  });

  it('refuses XMLTABLE and TABLESAMPLE methods other than SYSTEM and BERNOULLI', () => {
    assert.match(refusal("SELECT * FROM XMLTABLE('/a' PASSING '<a/>' COLUMNS b int)").message, /XMLTABLE is not allowed in the sandbox/);
    assert.match(refusal('SELECT * FROM events TABLESAMPLE system_time (1000)').message, /TABLESAMPLE system_time is not allowed/);
    checkReadStatement('SELECT * FROM events TABLESAMPLE BERNOULLI (1) REPEATABLE (42)');
  });

  it('lets ordinary analyst SQL through, SQL-standard syntax the parser turns into function calls included', () => {
    const queries = [
      "SELECT EXTRACT(year FROM occurred_at), date_part('dow', occurred_at), occurred_at AT TIME ZONE 'Europe/Paris', occurred_at AT LOCAL FROM events",
      "SELECT SUBSTRING(event FROM 2 FOR 3), SUBSTRING(event SIMILAR 'p%' ESCAPE '#'), substring(event, 1, 2), substr(event, 2) FROM events",
      "SELECT TRIM(BOTH 'x' FROM event), TRIM(LEADING FROM event), TRIM(TRAILING 'e' FROM event), TRIM(event) FROM events",
      "SELECT POSITION('a' IN event), OVERLAY(event PLACING 'X' FROM 2 FOR 1), event IS NORMALIZED, event IS NFKC NORMALIZED, NORMALIZE(event, NFC), COLLATION FOR (event) FROM events",
      "SELECT (DATE '2025-01-01', DATE '2025-02-01') OVERLAPS (DATE '2025-01-15', DATE '2025-03-01')",
      "SELECT event LIKE 'p!_%' ESCAPE '!', event ILIKE 'P%', event SIMILAR TO '(page|sign)%', event NOT SIMILAR TO 'x%' ESCAPE '#', event ~* '^p' FROM events",
      'SELECT CURRENT_DATE, CURRENT_TIMESTAMP, LOCALTIMESTAMP, CURRENT_TIME(2), CURRENT_USER, SESSION_USER, SYSTEM_USER, now(), statement_timestamp()',
      "SELECT COALESCE(NULL, 1), NULLIF(1, 2), GREATEST(1, 2), LEAST(1, 2), CAST('1' AS int), '2'::bigint, int4 '3', TREAT(4 AS int8), int8(5), pg_typeof(1)",
      "SELECT date_trunc('week', occurred_at) AS week, count(*) FILTER (WHERE event = 'signup') AS signups, count(DISTINCT user_id), avg(event_id)::numeric(10, 2) FROM events GROUP BY 1 ORDER BY 1",
      'SELECT user_id, row_number() OVER w, rank() OVER w, lag(occurred_at) OVER w, first_value(event) OVER w, ntile(4) OVER w FROM events WINDOW w AS (PARTITION BY user_id ORDER BY occurred_at)',
      'SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY event_id), percentile_disc(0.9) WITHIN GROUP (ORDER BY event_id), mode() WITHIN GROUP (ORDER BY event), rank(5) WITHIN GROUP (ORDER BY event_id) FROM events',
      'SELECT plan, country, GROUPING(plan, country), count(*) FROM users GROUP BY GROUPING SETS ((plan), (country), ()), ROLLUP (plan), CUBE (country)',
      "SELECT properties->>'path', properties #>> '{a,b}', jsonb_path_query_first(properties, '$.amount'), properties ? 'path', jsonb_array_length('[1]'), jsonb_build_object('a', 1), to_jsonb(event) FROM events",
      "SELECT JSON_OBJECT('a': 1), JSON_ARRAY(1, 2), JSON_VALUE(properties, '$.amount' RETURNING numeric), JSON_QUERY(properties, '$'), JSON_EXISTS(properties, '$.path'), properties IS JSON OBJECT, JSON_SCALAR(1), JSON_SERIALIZE(properties) FROM events",
      'SELECT JSON_OBJECTAGG(event: event_id), JSON_ARRAYAGG(event_id ORDER BY event_id) FROM events',
      "SELECT * FROM JSON_TABLE('[{\"a\": 1}]'::jsonb, '$[*]' COLUMNS (a int PATH '$.a'))",
      "SELECT ts_rank(to_tsvector('english', event), websearch_to_tsquery('english', 'page -view')), ts_rank_cd(to_tsvector(event), plainto_tsquery('page')), ts_headline(event, to_tsquery('page')), to_tsvector(event) @@ phraseto_tsquery('page view') FROM events",
      "SELECT n, d FROM generate_series(1, 10) AS n, generate_series(DATE '2025-01-01', DATE '2025-01-31', INTERVAL '1 day') AS d",
      "SELECT * FROM unnest(ARRAY[1, 2], ARRAY['a', 'b']) WITH ORDINALITY AS t(n, s, i), ROWS FROM (generate_series(1, 2), unnest(ARRAY[3])) AS r",
      "SELECT to_char(occurred_at, 'YYYY-MM'), to_number('1,234', '9,999'), to_date('2025-01-02', 'YYYY-MM-DD'), to_timestamp(0), format('%s: %L', event, user_id), date_bin(INTERVAL '15 minutes', occurred_at, TIMESTAMPTZ '2000-01-01') FROM events",
      "SELECT regexp_replace(event, '_', ' ', 'g'), split_part(event, '_', 1), string_agg(DISTINCT event, ', ' ORDER BY event), array_agg(event_id ORDER BY occurred_at DESC), concat_ws('/', event, user_id), lpad(event, 10), initcap(event), md5(event), left(event, 3) FROM events GROUP BY user_id",
      'SELECT round(avg(event_id), 2), ceil(1.2), floor(1.8), abs(-1), power(2, 10), sqrt(2), ln(2), log(10, 1000), mod(7, 3), greatest(1, 2), random(), width_bucket(5, 0, 10, 4), stddev_samp(event_id), corr(event_id, user_id) FROM events',
      "SELECT array_length(ARRAY[1, 2], 1), cardinality(ARRAY[1]), array_position(ARRAY['a'], 'a'), array_to_string(ARRAY[1, 2], ','), string_to_array('a,b', ','), ARRAY(SELECT 1), 1 = ANY(ARRAY[1])",
      "SELECT daterange(DATE '2025-01-01', DATE '2025-02-01') @> CURRENT_DATE, upper(tstzrange(now(), now() + INTERVAL '1 hour')), isempty(int4range(1, 1)), age(TIMESTAMP '2025-01-01'), make_interval(days => 3), justify_hours(INTERVAL '30 hours')",
      "SELECT CASE WHEN event = 'signup' THEN 1 ELSE 0 END, event IS DISTINCT FROM 'x', event_id BETWEEN 1 AND 10, EXISTS (SELECT 1 FROM users u WHERE u.user_id = e.user_id) FROM events e",
      "WITH weekly AS (SELECT date_trunc('week', occurred_at) AS w, count(*) AS n FROM events GROUP BY 1) SELECT w, n, n - lag(n) OVER (ORDER BY w) FROM weekly",
      "SELECT current_setting('statement_timeout'), current_database(), pg_backend_pid(), gen_random_uuid(), num_nulls(1, NULL), pg_sleep(0)",
      'SELECT * FROM events TABLESAMPLE SYSTEM (1)',
      "SELECT host('10.0.0.1/24'::inet), masklen('10.0.0.0/8'::cidr), '10.1.2.3'::inet << '10.0.0.0/8'::inet",
    ];
    for (const text of queries) {
      try {
        checkReadStatement(text);
      } catch (error) {
        assert.fail(`${text}\n  was refused: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  });

  it('checks semantic-model expressions against the same allowlist', () => {
    for (const expr of [
      'lower(users.country)',
      "date_trunc('day', events.occurred_at)",
      "(events.properties->>'amount')::numeric",
      "EXTRACT(hour FROM events.occurred_at AT TIME ZONE 'UTC')",
      'count(DISTINCT events.user_id)',
    ]) {
      checkExpression(expr);
    }
    assert.match(refusal("ts_stat('SELECT 1')", checkExpression).message, /^The function ts_stat\(\) is not allowed in the sandbox/);
    assert.match(
      refusal("length(query_to_xml('SELECT 1', true, false, '')::text)", checkExpression).message,
      /query_to_xml\(\) is not allowed in the sandbox/,
    );
    assert.match(refusal('public.lower(users.country)', checkExpression).message, /only pg_catalog functions may be named with a schema/);
  });
});

describe('sql guard: deep input is refused clearly, and never breaks the parser', () => {
  const deep: Record<string, string> = {
    'SELECT 1+1+…+1, 5,000 terms (10 KB, the issue)': plus(5_000),
    '50,000 terms': plus(50_000),
    '200,000 terms': plus(200_000),
    '20,000 nested parentheses': `SELECT ${'('.repeat(20_000)}1${')'.repeat(20_000)}`,
    '2,000 nested subqueries': `SELECT ${'(SELECT '.repeat(2_000)}1${')'.repeat(2_000)}`,
    '3,000 nested function calls': `SELECT ${'abs('.repeat(3_000)}1${')'.repeat(3_000)}`,
    '1,500 nested CASE': `SELECT ${'CASE WHEN true THEN '.repeat(1_500)}1${' END'.repeat(1_500)}`,
    '20,000 NOTs': `SELECT ${'NOT '.repeat(20_000)}true`,
    '6,000 UNIONs': Array(6_000).fill('SELECT 1').join(' UNION ALL '),
    '6,000 JOINs': `SELECT 1 FROM events e0 ${Array.from({ length: 6_000 }, (_, i) => `JOIN events e${i + 1} ON true`).join(' ')}`,
    '3,000 BETWEEN … AND … IS TRUE': `SELECT 1${' BETWEEN 0 AND 1 IS TRUE'.repeat(3_000)}`,
    '5,000 casts to timestamp with time zone': `SELECT now()${'::timestamp with time zone'.repeat(5_000)}`,
    "deep terms after an E'…' string": `SELECT E'\\'' ${'+1'.repeat(20_000)}`,
  };

  it('refuses each deep shape with sql_refused and a hint, not a stack overflow', () => {
    for (const [name, text] of Object.entries(deep)) {
      const error = refusal(text);
      assert.equal(error.code, 'sql_refused', name);
      assert.match(error.message, /^The SQL nests too deeply \(more than 1000 levels/, name);
      assert.match(error.problem.hint ?? '', /Simplify it/, name);
    }
    assert.match(refusal(plus(5_000), (text) => checkExpression(text.slice('SELECT '.length))).message, /nests too deeply/);
  });

  it('still parses after a hundred deep inputs: the WASM parser never overflows (it leaked and broke after ~30)', () => {
    for (let round = 0; round < 50; round++) {
      assert.match(refusal(plus(20_000)).message, /nests too deeply/);
      assert.match(refusal(`SELECT ${'(SELECT '.repeat(3_000)}1${')'.repeat(3_000)}`).message, /nests too deeply/);
    }
    assert.equal(checkReadStatement("SELECT event, count(*) FROM events WHERE event <> 'x' GROUP BY 1").statementType, 'select');
    assert.equal(checkReadStatement(plus(900)).statementType, 'select');
  });

  it('lets wide but shallow SQL through: long IN lists, OR chains, CASE, UNION ALL and sums', () => {
    const ids = Array.from({ length: 5_000 }, (_, i) => i).join(', ');
    for (const text of [
      `SELECT * FROM events WHERE event_id IN (${ids})`,
      `SELECT * FROM events WHERE ${Array.from({ length: 3_000 }, (_, i) => `event_id = ${i}`).join(' OR ')}`,
      `SELECT * FROM events WHERE ${Array.from({ length: 3_000 }, (_, i) => `event_id <> ${i}`).join(' AND ')}`,
      `SELECT CASE ${Array.from({ length: 2_000 }, (_, i) => `WHEN event_id = ${i} THEN 'v${i}'`).join(' ')} END FROM events`,
      Array(500).fill('SELECT 1').join(' UNION ALL '),
      `SELECT ${Array.from({ length: 1_000 }, (_, i) => `sum(event_id + ${i}) AS s${i}`).join(', ')} FROM events`,
      `SELECT ${'(SELECT '.repeat(100)}1${')'.repeat(100)}`,
      plus(900),
    ]) {
      checkReadStatement(text);
    }
  });
});

describe('sql guard through query_lakehouse and the REST API', () => {
  let h: LakehouseHarness;
  before(async () => {
    h = await startLakehouseHarness({ warehouse: true });
    await sql
      .raw(
        `CREATE TABLE ${h.env.a.schema}.events AS SELECT (ARRAY['signup', 'page_view', 'purchase'])[1 + g % 3] AS event, now() - g * interval '1 hour' AS occurred_at FROM generate_series(1, 50) g`,
      )
      .execute(h.database.db);
  });
  after(async () => {
    await h?.close();
  });

  const rest = async (body: Record<string, unknown>) => {
    const response = await fetch(`${h.servers.a.url}/api/v1/lakehouse/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.servers.a.tokens.read}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return {
      status: response.status,
      json: (await response.json()) as { error?: { code?: string; message?: string } } & Record<string, unknown>,
    };
  };

  it('lists only functions PostgreSQL 17 has, none of them one that runs query text', async () => {
    const { rows } = await sql<{ name: string }>`
      SELECT DISTINCT proname AS name FROM pg_proc WHERE pronamespace = 'pg_catalog'::regnamespace AND proname = ANY(${[...ALLOWED_FUNCTIONS]}::text[])`.execute(
      h.database.db,
    );
    const known = new Set(rows.map((row) => row.name));
    assert.deepEqual(
      [...ALLOWED_FUNCTIONS].filter((name) => !known.has(name)),
      [],
      'allowed names that PostgreSQL does not have',
    );
    for (const name of [
      'ts_stat',
      'ts_rewrite',
      'query_to_xml',
      'xpath',
      'set_config',
      'dblink',
      'lo_get',
      'nextval',
      'pg_advisory_lock',
      'pg_read_file',
    ]) {
      assert.equal(ALLOWED_FUNCTIONS.has(name), false, name);
    }
  });

  it('refuses the ts_stat escape on MCP, and nothing ran', async () => {
    const escape = await callError(h.clients.a, 'query_lakehouse', {
      connection: 'warehouse',
      sql: "SELECT * FROM ts_stat('SELECT to_tsvector(set_config(''work_mem'', ''1GB'', false))')",
    });
    assert.equal(escape.code, 'sql_refused');
    assert.match(escape.message, /ts_stat\(\) is not allowed in the sandbox/);
    const terminate = await callError(h.clients.a, 'query_lakehouse', {
      connection: 'warehouse',
      sql: "SELECT * FROM ts_stat('SELECT to_tsvector(pg_terminate_backend(pid)::text) FROM pg_stat_activity')",
    });
    assert.equal(terminate.code, 'sql_refused');
    const after = await call(h.clients.a, 'query_lakehouse', { connection: 'warehouse', sql: "SELECT current_setting('work_mem') AS w" });
    assert.notDeepEqual(after.rows, [['1GB']]);
  });

  it('answers a deep expression with sql_refused on MCP and REST, never internal_error, and keeps answering', async () => {
    for (const text of [plus(5_000), plus(40_000), `SELECT ${'(SELECT '.repeat(2_000)}1${')'.repeat(2_000)}`]) {
      const error = await callError(h.clients.a, 'query_lakehouse', { connection: 'warehouse', sql: text });
      assert.equal(error.code, 'sql_refused', error.message);
      assert.match(error.message, /nests too deeply/);
      const validated = await call(h.clients.a, 'validate_sql', { connection: 'warehouse', sql: text });
      assert.equal(validated.valid, false);
      assert.match(validated.errors[0]?.message ?? '', /nests too deeply/);
    }
    const viaRest = await rest({ connection: 'warehouse', sql: plus(5_000) });
    assert.equal(viaRest.status, 400, JSON.stringify(viaRest.json));
    assert.match(JSON.stringify(viaRest.json), /"sql_refused"/);
    assert.match(JSON.stringify(viaRest.json), /nests too deeply/);
    const refusedFunction = await rest({ connection: 'warehouse', sql: "SELECT query_to_xml('SELECT 1', true, false, '')" });
    assert.equal(refusedFunction.status, 400);
    assert.match(JSON.stringify(refusedFunction.json), /query_to_xml\(\) is not allowed in the sandbox/);
    const ok = await call(h.clients.a, 'query_lakehouse', { connection: 'warehouse', sql: plus(900) + ' AS n' });
    assert.deepEqual(ok.rows, [[900]]);
  });

  it('answers deep SQL on DuckDB (the built-in connections) with an error of the statement, and the worker keeps answering', async () => {
    // DuckDB binds deep operator chains in steeply growing time (900 terms took 26 s): the worker refuses depth past 200.
    for (const text of [plus(300), plus(900), plus(40_000), `SELECT ${'(SELECT '.repeat(2_000)}1${')'.repeat(2_000)}`]) {
      const started = Date.now();
      const error = await callError(h.clients.a, 'query_lakehouse', { sql: text });
      assert.equal(error.code, 'sql_syntax_error', error.message);
      assert.match(error.message, /Max expression depth limit of 200 exceeded/);
      assert.ok(Date.now() - started < 5_000, `refused after ${Date.now() - started} ms`);
    }
    const ok = await call(h.clients.a, 'query_lakehouse', { sql: plus(150) + ' AS n' });
    assert.deepEqual(ok.rows, [[150]]);
  });

  it('runs ordinary analyst queries on the sample data end to end', async () => {
    const result = await call(h.clients.a, 'query_lakehouse', {
      connection: 'warehouse',
      sql: `SELECT EXTRACT(year FROM date_trunc('month', occurred_at AT TIME ZONE 'UTC'))::int AS y, TRIM(BOTH ' ' FROM upper(event)) AS e,
                   count(*) FILTER (WHERE event SIMILAR TO 'sign%') AS signups, rank() OVER (ORDER BY count(*) DESC) AS r,
                   max(ts_rank(to_tsvector('simple', event), websearch_to_tsquery('simple', 'signup'))) AS score
              FROM events GROUP BY 1, 2 ORDER BY r LIMIT 3`,
    });
    assert.equal(result.row_count, 3);
  });
});
