import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { AppError } from '../../src/errors.js';
import { checkModel, compileQuery, InvalidModel, type ModelQuery, type SemanticModel } from '../../src/lakehouse/semantic-models.js';
import { loadSqlParser } from '../../src/lakehouse/sql-guard.js';
import { UnknownRange } from '../../src/time/relative-range.js';

// Compiling a semantic-model query to SQL (compileQuery): identifiers and expressions come from the model,
// every value of the request is a bind parameter, and the result passes the SQL guard (hence the parser).
// Running such queries against the sample data is in the integration tests.

before(async () => {
  await loadSqlParser();
});

const model: SemanticModel = {
  name: 'orders',
  connection: 'shop_db',
  schema: 'shop',
  table: 'orders',
  alias: 'o',
  joins: [
    { name: 'c', table: 'customers', type: 'inner', base_column: 'customer_id', column: 'id' },
    { name: 'r', schema: 'geo', table: 'regions', base_column: 'region_id', column: 'id' },
  ],
  dimensions: [
    { name: 'status', expr: 'o.status', type: 'string' },
    { name: 'placed_at', expr: 'o.placed_at', type: 'time' },
    { name: 'amount', expr: 'o.amount', type: 'number' },
    { name: 'paid', expr: "o.status = 'paid'", type: 'boolean' },
  ],
  measures: [
    { name: 'orders', agg: 'count' },
    { name: 'customers', agg: 'count_distinct', expr: 'o.customer_id' },
    { name: 'revenue', agg: 'sum', expr: 'o.amount', filter: "o.status = 'paid'" },
  ],
};

const FROM = [
  'FROM "shop"."orders" AS "o"',
  'JOIN "customers" AS "c" ON "o"."customer_id" = "c"."id"',
  'LEFT JOIN "geo"."regions" AS "r" ON "o"."region_id" = "r"."id"',
];

/** A query of the model with only `orders` and these filters. */
const filtered = (filters: NonNullable<ModelQuery['filters']>): ModelQuery => ({ model: 'orders', measures: ['orders'], filters });

describe('semantic model: the test model is valid', () => {
  it('passes checkModel (schema, unique names, expressions)', () => assert.equal(checkModel(model), model));
});

describe('semantic model query → SQL', () => {
  const cases: { name: string; input: ModelQuery; expected: { sql: string[]; values: unknown[] } }[] = [
    {
      name: 'one count: biggest first, one row more than the default limit',
      input: { model: 'orders', measures: ['orders'] },
      expected: { sql: ['SELECT count(*) AS "orders"', ...FROM, 'ORDER BY "orders" DESC', 'LIMIT $1::integer'], values: [101] },
    },
    {
      name: 'dimensions group, a granularity truncates, measures aggregate with their filter',
      input: {
        model: 'orders',
        measures: ['revenue', 'customers'],
        dimensions: ['status', { name: 'placed_at', granularity: 'month' }],
        limit: 10,
      },
      expected: {
        sql: [
          `SELECT (o.status) AS "status", date_trunc('month', (o.placed_at)) AS "placed_at", sum((o.amount)) FILTER (WHERE (o.status = 'paid')) AS "revenue", count(DISTINCT (o.customer_id)) AS "customers"`,
          ...FROM,
          'GROUP BY 1, 2',
          'ORDER BY "revenue" DESC, 1, 2',
          'LIMIT $1::integer',
        ],
        values: [11],
      },
    },
    {
      name: 'dimensions only: ordered by the dimensions',
      input: { model: 'orders', dimensions: ['status'] },
      expected: { sql: ['SELECT (o.status) AS "status"', ...FROM, 'GROUP BY 1', 'ORDER BY 1', 'LIMIT $1::integer'], values: [101] },
    },
    {
      name: 'an explicit order, ascending by default',
      input: {
        model: 'orders',
        measures: ['orders'],
        dimensions: ['status'],
        order: [{ field: 'status', direction: 'desc' }, { field: 'orders' }],
      },
      expected: {
        sql: [
          'SELECT (o.status) AS "status", count(*) AS "orders"',
          ...FROM,
          'GROUP BY 1',
          'ORDER BY "status" DESC, "orders" ASC',
          'LIMIT $1::integer',
        ],
        values: [101],
      },
    },
    {
      name: 'comparisons and lists: typed bind parameters',
      input: filtered([
        { field: 'status', op: 'in', values: ['new', 'paid'] },
        { field: 'amount', op: 'between', values: [1, 2] },
        { field: 'placed_at', op: 'gte', value: '2024-01-01' },
        { field: 'paid', op: 'eq', value: true },
        { field: 'amount', op: 'not_in', values: [3] },
        { field: 'amount', op: 'neq', value: 0 },
      ]),
      expected: {
        sql: [
          'SELECT count(*) AS "orders"',
          ...FROM,
          "WHERE (o.status) IN ($1::text, $2::text) AND (o.amount) BETWEEN $3::numeric AND $4::numeric AND (o.placed_at) >= $5::timestamptz AND (o.status = 'paid') = $6::boolean AND (o.amount) NOT IN ($7::numeric) AND (o.amount) <> $8::numeric",
          'ORDER BY "orders" DESC',
          'LIMIT $9::integer',
        ],
        values: ['new', 'paid', 1, 2, '2024-01-01', true, 3, 0, 101],
      },
    },
    {
      name: 'text matching and NULL tests',
      input: filtered([
        { field: 'status', op: 'contains', value: 'ai' },
        { field: 'status', op: 'starts_with', value: 'p' },
        { field: 'status', op: 'is_null' },
        { field: 'amount', op: 'is_not_null' },
      ]),
      expected: {
        sql: [
          'SELECT count(*) AS "orders"',
          ...FROM,
          'WHERE strpos((o.status)::text, $1::text) > 0 AND starts_with((o.status)::text, $2::text) AND (o.status) IS NULL AND (o.amount) IS NOT NULL',
          'ORDER BY "orders" DESC',
          'LIMIT $3::integer',
        ],
        values: ['ai', 'p', 101],
      },
    },
    {
      name: 'a filter on a measure goes to HAVING',
      input: filtered([
        { field: 'revenue', op: 'gt', value: 100 },
        { field: 'orders', op: 'lte', value: 5 },
      ]),
      expected: {
        sql: [
          'SELECT count(*) AS "orders"',
          ...FROM,
          "HAVING sum((o.amount)) FILTER (WHERE (o.status = 'paid')) > $1::numeric AND count(*) <= $2::numeric",
          'ORDER BY "orders" DESC',
          'LIMIT $3::integer',
        ],
        values: [100, 5, 101],
      },
    },
    {
      name: 'a value that looks like SQL stays a value',
      input: filtered([{ field: 'status', op: 'eq', value: "x'; DROP TABLE t; --" }]),
      expected: {
        sql: ['SELECT count(*) AS "orders"', ...FROM, 'WHERE (o.status) = $1::text', 'ORDER BY "orders" DESC', 'LIMIT $2::integer'],
        values: ["x'; DROP TABLE t; --", 101],
      },
    },
    {
      name: 'a timestamp with fractions and an offset',
      input: filtered([{ field: 'placed_at', op: 'lt', value: '2024-01-01 10:00:00.123456+02:00' }]),
      expected: {
        sql: [
          'SELECT count(*) AS "orders"',
          ...FROM,
          'WHERE (o.placed_at) < $1::timestamptz',
          'ORDER BY "orders" DESC',
          'LIMIT $2::integer',
        ],
        values: ['2024-01-01 10:00:00.123456+02:00', 101],
      },
    },
  ];
  for (const { name, input, expected } of cases) {
    it(name, () => {
      const compiled = compileQuery(model, input);
      assert.deepEqual({ sql: compiled.sql.split('\n'), values: compiled.values }, expected);
    });
  }

  it('quotes the identifiers of a model without alias or schema, in each dialect', () => {
    const plain: SemanticModel = {
      name: 'odd',
      connection: 'shop_db',
      table: 'Order "Lines"',
      dimensions: [{ name: 'sku', expr: 'sku', type: 'string' }],
      measures: [{ name: 'lines', agg: 'count' }],
    };
    const query: ModelQuery = { model: 'odd', measures: ['lines'], dimensions: ['sku'] };
    assert.deepEqual(compileQuery(plain, query).sql.split('\n'), [
      'SELECT (sku) AS "sku", count(*) AS "lines"',
      'FROM "Order ""Lines""" AS "Order ""Lines"""',
      'GROUP BY 1',
      'ORDER BY "lines" DESC, 1',
      'LIMIT $1::integer',
    ]);
    // A built-in connection is DuckDB: the table is named in full, catalog and schema, and the limit a BIGINT.
    assert.deepEqual(compileQuery({ ...plain, connection: 'sample' }, query).sql.split('\n'), [
      'SELECT (sku) AS "sku", count(*) AS "lines"',
      'FROM "sample"."main"."Order ""Lines""" AS "Order ""Lines"""',
      'GROUP BY 1',
      'ORDER BY "lines" DESC, 1',
      'LIMIT $1::BIGINT',
    ]);
  });
});

describe('semantic model query: refusals (400 invalid_query)', () => {
  const cases: { name: string; input: ModelQuery; expected: string }[] = [
    { name: 'nothing asked', input: { model: 'orders' }, expected: 'Ask for at least one measure or dimension.' },
    {
      name: 'empty lists',
      input: { model: 'orders', measures: [], dimensions: [] },
      expected: 'Ask for at least one measure or dimension.',
    },
    {
      name: 'an unknown measure',
      input: { model: 'orders', measures: ['nope'] },
      expected: 'No measure "nope" in model "orders"; its measures: orders, customers, revenue.',
    },
    {
      name: 'an unknown dimension',
      input: { model: 'orders', dimensions: ['nope'] },
      expected: 'No dimension "nope" in model "orders"; its dimensions: status, placed_at, amount, paid.',
    },
    {
      name: 'a dimension name is not a measure',
      input: { model: 'orders', measures: ['status'] },
      expected: 'No measure "status" in model "orders"; its measures: orders, customers, revenue.',
    },
    { name: 'a measure twice', input: { model: 'orders', measures: ['orders', 'orders'] }, expected: '"orders" is asked for twice.' },
    {
      name: 'a dimension twice (once truncated)',
      input: { model: 'orders', dimensions: ['placed_at', { name: 'placed_at', granularity: 'day' }] },
      expected: '"placed_at" is asked for twice.',
    },
    {
      name: 'a granularity on a string dimension',
      input: { model: 'orders', dimensions: [{ name: 'status', granularity: 'day' }] },
      expected: '"status" is a string dimension; only time dimensions take a granularity.',
    },
    {
      name: 'a filter on an unknown field',
      input: filtered([{ field: 'zzz', op: 'eq', value: 1 }]),
      expected:
        'No dimension or measure "zzz" in model "orders" to filter on; dimensions: status, placed_at, amount, paid; measures: orders, customers, revenue.',
    },
    {
      name: 'an order comparison on a string',
      input: filtered([{ field: 'status', op: 'gt', value: 'a' }]),
      expected: '"gt" does not apply to "status" (string); use one of eq, neq, in, not_in, contains, starts_with, is_null, is_not_null.',
    },
    {
      name: 'contains on a measure (a number)',
      input: filtered([{ field: 'revenue', op: 'contains', value: 'x' }]),
      expected:
        '"contains" does not apply to "revenue" (number); use one of eq, neq, gt, gte, lt, lte, between, in, not_in, is_null, is_not_null.',
    },
    {
      name: 'in on a boolean',
      input: filtered([{ field: 'paid', op: 'in', values: [true] }]),
      expected: '"in" does not apply to "paid" (boolean); use one of eq, neq, is_null, is_not_null.',
    },
    {
      name: 'in on a time',
      input: filtered([{ field: 'placed_at', op: 'in', values: ['2024-01-01'] }]),
      expected: '"in" does not apply to "placed_at" (time); use one of eq, neq, gt, gte, lt, lte, between, during, is_null, is_not_null.',
    },
    {
      name: 'a comparison without a value',
      input: filtered([{ field: 'status', op: 'eq' }]),
      expected: 'The filter on "status" needs a value.',
    },
    {
      name: 'a number for a string',
      input: filtered([{ field: 'status', op: 'eq', value: 1 }]),
      expected: 'The filter on "status" (string) needs a string, not 1.',
    },
    {
      name: 'a string for a number',
      input: filtered([{ field: 'amount', op: 'gt', value: '5' }]),
      expected: 'The filter on "amount" (number) needs a number, not "5".',
    },
    {
      name: 'a string for a boolean',
      input: filtered([{ field: 'paid', op: 'eq', value: 'true' }]),
      expected: 'The filter on "paid" (boolean) needs a boolean, not "true".',
    },
    {
      name: 'a word for a time',
      input: filtered([{ field: 'placed_at', op: 'gt', value: 'yesterday' }]),
      expected: 'The filter on "placed_at" (time) needs an ISO-8601 date or timestamp string, not "yesterday".',
    },
    {
      name: 'a month 13',
      input: filtered([{ field: 'placed_at', op: 'gt', value: '2024-13-01' }]),
      expected: 'The filter on "placed_at" (time) needs an ISO-8601 date or timestamp string, not "2024-13-01".',
    },
    {
      name: 'an hour 25',
      input: filtered([{ field: 'placed_at', op: 'gt', value: '2024-01-01T25:00' }]),
      expected: 'The filter on "placed_at" (time) needs an ISO-8601 date or timestamp string, not "2024-01-01T25:00".',
    },
    {
      name: 'an epoch number for a time',
      input: filtered([{ field: 'placed_at', op: 'gt', value: 1_700_000_000 }]),
      expected: 'The filter on "placed_at" (time) needs an ISO-8601 date or timestamp string, not 1700000000.',
    },
    {
      name: 'a February 30',
      input: filtered([{ field: 'placed_at', op: 'gt', value: '2024-02-30' }]),
      expected: 'The filter on "placed_at" (time) needs an ISO-8601 date or timestamp string, not "2024-02-30".',
    },
    {
      name: 'between with one value',
      input: filtered([{ field: 'amount', op: 'between', values: [1] }]),
      expected: '"between" on "amount" needs exactly two values.',
    },
    {
      name: 'between with three values',
      input: filtered([{ field: 'amount', op: 'between', values: [1, 2, 3] }]),
      expected: '"between" on "amount" needs exactly two values.',
    },
    {
      name: 'between with a value instead of values',
      input: filtered([{ field: 'amount', op: 'between', value: 1 }]),
      expected: '"between" on "amount" needs exactly two values.',
    },
    { name: 'in with no values', input: filtered([{ field: 'amount', op: 'in', values: [] }]), expected: '"in" on "amount" needs values.' },
    { name: 'not_in without values', input: filtered([{ field: 'status', op: 'not_in' }]), expected: '"not_in" on "status" needs values.' },
    {
      name: 'a list with a value of the wrong type',
      input: filtered([{ field: 'amount', op: 'in', values: [1, 'two'] }]),
      expected: 'The filter on "amount" (number) needs a number, not "two".',
    },
    {
      name: 'ordering by a field not asked for',
      input: { model: 'orders', measures: ['orders'], order: [{ field: 'status' }] },
      expected: 'Order by "status": only the query\'s own dimensions and measures (orders) can order it.',
    },
  ];
  for (const { name, input, expected } of cases) {
    it(name, () => {
      assert.throws(
        () => compileQuery(model, input),
        (error: unknown) => {
          assert.ok(error instanceof AppError, String(error));
          assert.deepEqual(
            { status: error.status, code: error.code, message: error.message },
            { status: 400, code: 'invalid_query', message: expected },
          );
          return true;
        },
      );
    });
  }
});

describe('semantic model: expressions are checked when the model is read', () => {
  const withDimension = (expr: string): SemanticModel => ({ ...model, dimensions: [{ name: 'd', expr, type: 'string' }] });
  const cases: { name: string; input: SemanticModel; expected: string }[] = [
    {
      name: 'a second column',
      input: withDimension('a, b'),
      expected: 'dimension d: "a, b" is not one SQL expression. Write a single scalar expression, e.g. `lower(country)`',
    },
    {
      name: 'a forbidden function',
      input: withDimension("set_config('a', 'b', false)"),
      expected: 'dimension d: The function set_config() is not allowed in the sandbox. Only analyst functions',
    },
    {
      name: 'a bare *',
      input: withDimension('*'),
      expected: 'dimension d: "*" is not one SQL expression',
    },
  ];
  for (const { name, input, expected } of cases) {
    it(name, () => {
      assert.throws(
        () => checkModel(input),
        (error: unknown) => {
          assert.ok(error instanceof InvalidModel, String(error));
          assert.equal(error.problems.length, 1);
          assert.ok(error.problems[0]?.startsWith(expected), error.problems[0]);
          return true;
        },
      );
    });
  }
});

describe('semantic model query: during (a time range phrase)', () => {
  const resolver = (phrase: string) => {
    if (phrase !== 'today') throw new UnknownRange(phrase);
    return { from: '2024-03-31T00:00:00+01:00', to: '2024-04-01T00:00:00+02:00' };
  };
  const during = (value: string) => filtered([{ field: 'placed_at', op: 'during', value }]);

  it('becomes a half-open range of two parameters, echoed as timeRanges', () => {
    const compiled = compileQuery(model, during('today'), resolver);
    assert.ok(compiled.sql.includes('WHERE ((o.placed_at) >= $1::timestamptz AND (o.placed_at) < $2::timestamptz)'), compiled.sql);
    assert.deepEqual(compiled.values, ['2024-03-31T00:00:00+01:00', '2024-04-01T00:00:00+02:00', 101]);
    assert.deepEqual(compiled.timeRanges, [
      { field: 'placed_at', during: 'today', from: '2024-03-31T00:00:00+01:00', to: '2024-04-01T00:00:00+02:00' },
    ]);
  });

  it('refuses an unknown phrase with the accepted forms, and a query without a resolver', () => {
    assert.throws(() => compileQuery(model, during('soon'), resolver), /The filter on "placed_at": "soon" is not a time range; use today/);
    assert.throws(() => compileQuery(model, during('today')), /"during" needs the environment's time zone/);
  });
});
