import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Context } from 'koa';
import { DATABASE_UNAVAILABLE_MESSAGE, DatabaseUnavailableError } from '../../src/db/unavailable.js';
import { AppError, internalError, validationFailed } from '../../src/errors.js';
import { sendProblem, toAppError } from '../../src/http/problem.js';

// Problem mapping: anything thrown becomes an AppError (toAppError), written as an RFC 9457 problem document
// (sendProblem) that tells a 4xx's detail and hides a 5xx's.

/** An error as koa (http-errors) and raw-body throw them: a status, an `expose` flag, a `type`. */
const httpError = (status: unknown, message: string, expose: unknown, type = 'test.error') =>
  Object.assign(new Error(message), { status, expose, type });

/** An error as pg or the network throws them. */
const coded = (code: string, message = 'boom') => Object.assign(new Error(message), { code });

interface Mapped {
  status: number;
  code: string;
  message: string;
  expose: boolean;
  headers?: Record<string, string>;
}

const INTERNAL: Mapped = { status: 500, code: 'internal_error', message: 'Internal server error', expose: false };
const DATABASE_UNAVAILABLE: Mapped = {
  status: 503,
  code: 'database_unavailable',
  message: DATABASE_UNAVAILABLE_MESSAGE,
  expose: true,
  headers: { 'Retry-After': '2' },
};

describe('toAppError: an AppError passes through as it is', () => {
  const cases: { name: string; input: AppError }[] = [
    { name: 'a 400', input: new AppError('invalid_layout', 'Bad thing.') },
    { name: 'a validation failure with its violations', input: validationFailed([{ location: 'body/x', message: 'is required' }]) },
    { name: 'a 500 (its message stays hidden by sendProblem)', input: new AppError('internal_error', 'secret detail') },
    { name: 'a subclass (database unavailable)', input: new DatabaseUnavailableError() },
  ];
  for (const { name, input } of cases) {
    it(name, () => assert.equal(toAppError(input), input));
  }
});

describe('toAppError: everything else', () => {
  const cases: { name: string; input: unknown; expected: Mapped }[] = [
    // The database down or unreachable: 503 with Retry-After, not a 500.
    { name: 'ECONNREFUSED', input: coded('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'), expected: DATABASE_UNAVAILABLE },
    { name: 'ECONNRESET', input: coded('ECONNRESET'), expected: DATABASE_UNAVAILABLE },
    {
      name: 'SQLSTATE 57P01 (admin shutdown)',
      input: coded('57P01', 'terminating connection due to administrator command'),
      expected: DATABASE_UNAVAILABLE,
    },
    { name: 'SQLSTATE class 08 (connection exception)', input: coded('08006'), expected: DATABASE_UNAVAILABLE },
    { name: 'SQLSTATE 53300 (too many connections)', input: coded('53300'), expected: DATABASE_UNAVAILABLE },
    {
      name: 'pg: Connection terminated unexpectedly',
      input: new Error('Connection terminated unexpectedly'),
      expected: DATABASE_UNAVAILABLE,
    },
    { name: 'the database starting up', input: new Error('the database system is starting up'), expected: DATABASE_UNAVAILABLE },
    {
      name: 'a cause that is unreachable',
      input: new Error('query failed', { cause: coded('ETIMEDOUT') }),
      expected: DATABASE_UNAVAILABLE,
    },
    {
      name: 'an AggregateError of connects to ::1 and 127.0.0.1',
      input: new AggregateError([coded('ECONNREFUSED'), coded('ECONNREFUSED')], ''),
      expected: DATABASE_UNAVAILABLE,
    },
    // Other SQLSTATEs are bugs or bad input, not an outage.
    { name: 'SQLSTATE 42P01 (undefined table) is internal', input: coded('42P01', 'relation "x" does not exist'), expected: INTERNAL },
    { name: 'SQLSTATE 57014 (statement timeout) is internal', input: coded('57014', 'canceling statement'), expected: INTERNAL },
    // koa and raw-body errors
    {
      name: 'raw-body: entity too large',
      input: httpError(413, 'request entity too large', true, 'entity.too.large'),
      expected: { status: 413, code: 'payload_too_large', message: 'The request body is larger than the limit.', expose: true },
    },
    {
      name: '413 even when not exposed',
      input: httpError(413, 'too large', false),
      expected: { status: 413, code: 'payload_too_large', message: 'The request body is larger than the limit.', expose: true },
    },
    {
      name: 'raw-body: size does not match the length',
      input: httpError(400, 'request size did not match content length', true, 'request.size.invalid'),
      expected: { status: 400, code: 'bad_request', message: 'request size did not match content length', expose: true },
    },
    {
      name: 'raw-body: unsupported encoding',
      input: httpError(415, 'specified encoding unsupported', true, 'encoding.unsupported'),
      expected: { status: 415, code: 'unsupported_media_type', message: 'specified encoding unsupported', expose: true },
    },
    {
      name: 'a 429 is rate_limited',
      input: httpError(429, 'slow down', true),
      expected: { status: 429, code: 'rate_limited', message: 'slow down', expose: true },
    },
    {
      name: 'any other client error is bad_request (a code of the table, with its status)',
      input: httpError(499, 'client closed', true),
      expected: { status: 400, code: 'bad_request', message: 'client closed', expose: true },
    },
    { name: 'a 4xx not exposed: its message is not shown', input: httpError(400, 'internal detail', false), expected: INTERNAL },
    { name: 'a 4xx without expose', input: httpError(404, 'internal detail', undefined), expected: INTERNAL },
    { name: 'a 4xx with expose "true" (a string)', input: httpError(400, 'internal detail', 'true'), expected: INTERNAL },
    { name: 'a 4xx whose message is not a string', input: Object.assign({ status: 400, expose: true, message: 42 }), expected: INTERNAL },
    { name: 'a 5xx, even exposed', input: httpError(502, 'upstream secret', true), expected: INTERNAL },
    { name: 'a status below 400', input: httpError(302, 'redirect', true), expected: INTERNAL },
    { name: 'a status of 600 or more', input: httpError(600, 'nonsense', true), expected: INTERNAL },
    { name: 'a status as a string', input: httpError('400', 'nonsense', true), expected: INTERNAL },
    // Unknown errors: a bare 500 that says nothing about internals.
    { name: 'an Error', input: new Error('password authentication failed for postgres://u:secret@db'), expected: INTERNAL },
    { name: 'a TypeError', input: new TypeError("Cannot read properties of undefined (reading 'x')"), expected: INTERNAL },
    { name: 'a thrown string', input: 'boom', expected: INTERNAL },
    { name: 'a thrown number', input: 42, expected: INTERNAL },
    { name: 'a plain object', input: { message: 'secret' }, expected: INTERNAL },
    {
      name: 'null',
      input: null,
      expected: INTERNAL,
    },
    {
      name: 'undefined',
      input: undefined,
      expected: INTERNAL,
    },
  ];
  for (const { name, input, expected } of cases) {
    it(name, () => {
      const error = toAppError(input);
      assert.ok(error instanceof AppError);
      assert.deepEqual(
        {
          status: error.status,
          code: error.code,
          message: error.message,
          expose: error.expose,
          ...(error.headers ? { headers: error.headers } : {}),
        },
        expected,
      );
    });
  }
});

/** The parts of a koa Context that sendProblem writes. */
function fakeContext() {
  const headers: Record<string, string> = {};
  const ctx = {
    status: 404,
    type: '',
    body: undefined as unknown,
    headers,
    set(name: string, value: string) {
      headers[name] = value;
    },
  };
  return ctx;
}

describe('sendProblem', () => {
  const cases: {
    name: string;
    input: AppError;
    expected: { status: number; headers: Record<string, string>; body: Record<string, unknown> };
  }[] = [
    {
      name: 'a 4xx tells its detail',
      input: new AppError('not_found', 'No such insight.'),
      expected: {
        status: 404,
        headers: {},
        body: { type: 'about:blank', title: 'Not Found', status: 404, code: 'not_found', detail: 'No such insight.', instance: 'req-1' },
      },
    },
    {
      name: 'violations become errors',
      input: validationFailed([{ location: 'query/limit', message: 'must be <= 100' }]),
      expected: {
        status: 400,
        headers: {},
        body: {
          type: 'about:blank',
          title: 'Bad Request',
          status: 400,
          code: 'validation_failed',
          detail: 'The request does not match its schema (1 problem): query/limit must be <= 100',
          instance: 'req-1',
          errors: [{ location: 'query/limit', message: 'must be <= 100' }],
        },
      },
    },
    {
      name: 'a 500 hides its message',
      input: new AppError('internal_error', 'password authentication failed for user "lakehouse"'),
      expected: {
        status: 500,
        headers: {},
        body: {
          type: 'about:blank',
          title: 'Internal Server Error',
          status: 500,
          code: 'internal_error',
          detail: 'Internal server error. Quote the instance id when reporting it.',
          instance: 'req-1',
        },
      },
    },
    {
      name: 'internalError()',
      input: internalError(),
      expected: {
        status: 500,
        headers: {},
        body: {
          type: 'about:blank',
          title: 'Internal Server Error',
          status: 500,
          code: 'internal_error',
          detail: 'Internal server error. Quote the instance id when reporting it.',
          instance: 'req-1',
        },
      },
    },
    {
      name: 'database unavailable: a 503 that tells its detail, with Retry-After',
      input: new DatabaseUnavailableError(),
      expected: {
        status: 503,
        headers: { 'Retry-After': '2' },
        body: {
          type: 'about:blank',
          title: 'Service Unavailable',
          status: 503,
          code: 'database_unavailable',
          detail: DATABASE_UNAVAILABLE_MESSAGE,
          instance: 'req-1',
        },
      },
    },
    {
      name: 'a status without a status text is titled Error',
      input: new AppError('cancelled', 'The client went away.'),
      expected: {
        status: 499,
        headers: {},
        body: {
          type: 'about:blank',
          title: 'Error',
          status: 499,
          code: 'cancelled',
          detail: 'The client went away.',
          instance: 'req-1',
        },
      },
    },
    {
      name: 'headers of the error are set',
      input: new AppError('rate_limited', 'Slow down.', { headers: { 'Retry-After': '30', 'RateLimit-Remaining': '0' } }),
      expected: {
        status: 429,
        headers: { 'Retry-After': '30', 'RateLimit-Remaining': '0' },
        body: {
          type: 'about:blank',
          title: 'Too Many Requests',
          status: 429,
          code: 'rate_limited',
          detail: 'Slow down.',
          instance: 'req-1',
        },
      },
    },
  ];
  for (const { name, input, expected } of cases) {
    it(name, () => {
      const ctx = fakeContext();
      sendProblem(ctx as unknown as Context, input, 'req-1');
      assert.equal(ctx.type, 'application/problem+json');
      assert.deepEqual({ status: ctx.status, headers: ctx.headers, body: ctx.body }, expected);
    });
  }
});
