import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { applyModel, builtInModelDocuments, checkModel, InvalidModel, planInSandbox } from '../../../src/lakehouse/semantic-models.js';
import { runCli, singleJson } from '../cli/run-cli.js';
import { call, callError, SECRET, sessionHolds, startLakehouseHarness, type LakehouseHarness } from './harness.js';

// Semantic models: the built-in models of the sample data give the same numbers as the hand-written SQL;
// names in a request are only looked up in the model, values only travel as bind parameters; models are
// applied by `admin semantic-model apply`, checked by the schema, the parser and the planner first.

let h: LakehouseHarness;
let from: string;
let to: string;
let dir: string;
before(async () => {
  h = await startLakehouseHarness();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'semantic-models-'));
  const last = await call(h.clients.a, 'query_lakehouse', { connection: 'sample', sql: 'SELECT max(occurred_at) FROM events' });
  to = String(last.rows[0]?.[0]);
  from = new Date(Date.parse(to) - 7 * 86_400_000).toISOString();
});
after(async () => {
  await h?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

const rowsOf = async (text: string) =>
  (await call(h.clients.a, 'query_lakehouse', { connection: 'sample', sql: text, limit: 10_000 })).rows;

describe('semantic models: the built-in models of the sample data', () => {
  it('pass the schema and the expression checks', () => {
    for (const doc of builtInModelDocuments()) checkModel(doc);
  });

  it('list_semantic_models and get_semantic_model describe them in every environment', async () => {
    for (const client of [h.clients.a, h.clients.b]) {
      const list = await call(client, 'list_semantic_models', {});
      assert.deepEqual(
        list.items.map((m) => [m.name, m.connection, m.built_in]),
        [
          ['product_events', 'sample', true],
          ['product_users', 'sample', true],
        ],
      );
      assert.ok(list.items[0]?.measures.includes('purchasers'));
    }
    const got = await call(h.clients.a, 'get_semantic_model', { name: 'product_events' });
    assert.equal(got.model.table, 'events');
    assert.equal(got.model.dimensions.find((d) => d.name === 'occurred_at')?.type, 'time');
    assert.equal((await callError(h.clients.a, 'get_semantic_model', { name: 'nope' })).code, 'not_found');
  });

  it('top events of the last week: the same numbers as the hand-written SQL', async () => {
    const model = await call(h.clients.a, 'query_semantic_model', {
      model: 'product_events',
      measures: ['events', 'users'],
      dimensions: ['event'],
      filters: [
        { field: 'occurred_at', op: 'gte', value: from },
        { field: 'occurred_at', op: 'lt', value: to },
      ],
      order: [{ field: 'events', direction: 'desc' }, { field: 'event' }],
      limit: 5,
    });
    const expected = await rowsOf(`SELECT event, count(*), count(DISTINCT user_id) FROM events
      WHERE occurred_at >= '${from}' AND occurred_at < '${to}' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5`);
    assert.equal(model.rows.length, 5);
    assert.deepEqual(model.rows, expected);
    assert.deepEqual(
      model.columns.map((c) => `${c.name} ${c.type}`),
      ['event VARCHAR', 'events BIGINT', 'users BIGINT'],
    );
    assert.equal(model.truncated, true, 'more event names exist than the 5 asked for');
    assert.deepEqual(model.parameters, [from, to, 6]);
  });

  it('signups, purchasers and revenue by plan through the join: the same numbers as the hand-written SQL', async () => {
    const model = await call(h.clients.a, 'query_semantic_model', {
      model: 'product_events',
      measures: ['signups', 'purchasers', 'revenue'],
      dimensions: ['plan'],
      filters: [{ field: 'country', op: 'in', values: ['US', 'DE'] }],
      order: [{ field: 'plan' }],
    });
    const expected = await rowsOf(`SELECT u.plan, count(*) FILTER (WHERE e.event = 'signup'),
        count(DISTINCT e.user_id) FILTER (WHERE e.event = 'purchase'),
        sum((e.properties->>'amount')::numeric) FILTER (WHERE e.event = 'purchase')
      FROM events e LEFT JOIN users u ON e.user_id = u.user_id WHERE u.country IN ('US', 'DE') GROUP BY 1 ORDER BY 1`);
    assert.deepEqual(model.rows, expected);
    assert.equal(model.truncated, false);
    assert.ok(Number(model.rows.find((r) => r[0] === 'pro')?.[2]) > 0, 'pro users purchased');
  });

  it('weekly purchases with a time granularity, and a filter on a measure (HAVING)', async () => {
    const model = await call(h.clients.a, 'query_semantic_model', {
      model: 'product_events',
      measures: ['purchases'],
      dimensions: [{ name: 'occurred_at', granularity: 'week' }],
      filters: [{ field: 'purchases', op: 'gt', value: 10 }],
      order: [{ field: 'occurred_at' }],
    });
    const expected = await rowsOf(`SELECT date_trunc('week', occurred_at), count(*) FILTER (WHERE event = 'purchase')
      FROM events GROUP BY 1 HAVING count(*) FILTER (WHERE event = 'purchase') > 10 ORDER BY 1`);
    assert.ok(model.rows.length >= 10);
    assert.deepEqual(model.rows, expected);
    assert.match(String(model.rows[0]?.[0]), /^\d{4}-\d{2}-\d{2}T00:00:00Z$/);
  });
});

describe('semantic models: requests are typed and cannot inject SQL', () => {
  it('refuses operators that do not fit the type, and values of the wrong type', async () => {
    const q = (filters: unknown[], extra: Record<string, unknown> = {}) =>
      callError(h.clients.a, 'query_semantic_model', { model: 'product_events', measures: ['events'], filters, ...extra });
    let e = await q([{ field: 'occurred_at', op: 'contains', value: '2025' }]);
    assert.equal(e.code, 'invalid_query');
    assert.match(e.message, /"contains" does not apply to "occurred_at" \(time\)/);
    e = await q([{ field: 'user_id', op: 'eq', value: '1 OR 1=1' }]);
    assert.match(e.message, /needs a number/);
    e = await q([{ field: 'occurred_at', op: 'gte', value: 'yesterday' }]);
    assert.match(e.message, /ISO-8601/);
    e = await q([{ field: 'user_id', op: 'between', values: [1] }]);
    assert.match(e.message, /exactly two values/);
    e = await q([], { dimensions: [{ name: 'event', granularity: 'day' }] });
    assert.match(e.message, /only time dimensions take a granularity/);
    e = await q([], { order: [{ field: 'users' }] });
    assert.match(e.message, /only the query's own dimensions and measures/);
  });

  it('takes names only from the model: unknown or crafted names are refused before any SQL runs', async () => {
    let e = await callError(h.clients.a, 'query_semantic_model', { model: 'product_events', measures: ['password_hash'] });
    assert.equal(e.code, 'invalid_query');
    assert.match(e.message, /No measure "password_hash".*its measures: events, users/);
    e = await callError(h.clients.a, 'query_semantic_model', { model: 'product_events', dimensions: ['event" FROM users; --'] });
    assert.equal(e.code, 'validation_failed');
    e = await callError(h.clients.a, 'query_semantic_model', {
      model: 'product_events',
      measures: ['events'],
      filters: [{ field: 'event) OR (1=1', op: 'eq', value: 'x' }],
    });
    assert.equal(e.code, 'validation_failed');
  });

  it('sends values only as bind parameters: a quote-laden value matches nothing and breaks nothing', async () => {
    const evil = "x' OR '1'='1'; DROP TABLE users; --";
    const result = await call(h.clients.a, 'query_semantic_model', {
      model: 'product_events',
      measures: ['events'],
      filters: [
        { field: 'event', op: 'eq', value: evil },
        { field: 'country', op: 'in', values: [evil, "') OR true --"] },
      ],
    });
    assert.deepEqual(result.rows, [[0]]);
    assert.ok(!result.sql.includes('DROP'), result.sql);
    assert.deepEqual(result.parameters.slice(0, 3), [evil, evil, "') OR true --"]);
    const users = await rowsOf('SELECT count(*) FROM users');
    assert.equal(users[0]?.[0], 20000);
  });

  it('refuses a model whose expression is more than one expression (comments, FROM, a second column, a statement)', () => {
    const doc = builtInModelDocuments()[1] as { dimensions: { name: string; expr: string; type: string }[] };
    for (const expr of [
      'plan FROM pg_authid --',
      'plan, country',
      'plan; DROP TABLE users',
      'plan AS x',
      'plan) FROM pg_roles --',
      '(SELECT 1) FROM users WHERE (true',
    ]) {
      const bad = { ...doc, name: 'bad', dimensions: [{ name: 'd', expr, type: 'string' }] };
      assert.throws(() => checkModel(bad), InvalidModel, expr);
    }
    // On an external PostgreSQL connection, expressions also pass the sandbox's list of functions; on DuckDB
    // (the built-in connections) the worker's statement guard is the line, and DuckDB's functions are allowed.
    const reader = { ...doc, name: 'bad', dimensions: [{ name: 'd', expr: 'pg_read_file(plan)', type: 'string' }] };
    assert.throws(() => checkModel({ ...reader, connection: 'warehouse' }), InvalidModel);
    checkModel({ ...reader, dimensions: [{ name: 'd', expr: "json_extract_string(plan, '$.a')", type: 'string' }] });
  });
});

describe('semantic models: admin semantic-model apply', () => {
  const model = {
    name: 'signups',
    title: 'Signups by plan',
    connection: 'sample',
    table: 'users',
    alias: 'u',
    joins: [{ name: 's', table: 'sessions', type: 'inner', base_column: 'user_id', column: 'user_id' }],
    dimensions: [
      { name: 'plan', expr: 'u.plan', type: 'string' },
      { name: 'device', expr: 's.device', type: 'string' },
    ],
    measures: [{ name: 'users', agg: 'count_distinct', expr: 'u.user_id' }],
  };
  const env = () => ({ DATABASE_URL: h.database.url, SECRET_KEY: SECRET.toString('base64') });

  it('applies a JSON model from the CLI; the environment queries it and the other environment does not see it', async () => {
    const file = path.join(dir, 'signups.json');
    await fs.writeFile(file, JSON.stringify(model));
    const result = await runCli(['semantic-model', 'apply', 'acme/production', file, '--json'], env());
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(singleJson(result), { semantic_model: { name: 'signups', version: 1, status: 'created' } });
    const answer = await call(h.clients.a, 'query_semantic_model', {
      model: 'signups',
      measures: ['users'],
      dimensions: ['device'],
      order: [{ field: 'device' }],
    });
    const expected = await rowsOf(
      'SELECT s.device, count(DISTINCT u.user_id) FROM users u JOIN sessions s ON u.user_id = s.user_id GROUP BY 1 ORDER BY 1',
    );
    assert.deepEqual(answer.rows, expected);
    assert.equal((await callError(h.clients.b, 'query_semantic_model', { model: 'signups', measures: ['users'] })).code, 'not_found');
    const holds = await sessionHolds(h.clients.a, (counts) => counts.semantic_models === 3);
    assert.equal(holds.semantic_models, 3);
    assert.equal(holds.connections, 2);
  });

  it('a changed definition gets the next version; the same one changes nothing', async () => {
    const id = h.env.a.id;
    assert.deepEqual(await applyModel(h.database.db, id, model), { name: 'signups', version: 1, status: 'unchanged' });
    assert.deepEqual(await applyModel(h.database.db, id, { ...model, title: 'Users by plan' }), {
      name: 'signups',
      version: 2,
      status: 'updated',
    });
    const got = await call(h.clients.a, 'get_semantic_model', { name: 'signups' });
    assert.equal(got.version, 2);
    assert.equal(got.model.title, 'Users by plan');
  });

  it('refuses, storing nothing: a schema violation, a built-in name, and a column PostgreSQL cannot plan', async () => {
    const id = h.env.a.id;
    await assert.rejects(
      applyModel(h.database.db, id, { ...model, name: 'other', measures: [{ name: 'x', agg: 'median', expr: 'u.plan' }] }),
      /measures\/0\/agg must be equal to one of the allowed values/,
    );
    await assert.rejects(
      applyModel(h.database.db, id, { ...model, name: 'other', measures: [{ name: 'x', agg: 'sum' }] }),
      /sum needs an expr/,
    );
    await assert.rejects(applyModel(h.database.db, id, { ...model, name: 'product_events' }), /built-in model/);
    const broken = { ...model, name: 'broken', dimensions: [{ name: 'plan', expr: 'u.no_such_column', type: 'string' }] };
    await assert.rejects(
      applyModel(h.database.db, id, broken, planInSandbox(h.lakehouse, id)),
      /does not plan on connection "sample": Binder Error: .*"no_such_column"/,
    );
    const names = await sql<{ name: string }>`SELECT name FROM semantic_models WHERE environment_id = ${id} ORDER BY name`.execute(
      h.database.db,
    );
    assert.deepEqual(
      names.rows.map((r) => r.name),
      ['signups'],
    );
  });
});
