import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import Koa from 'koa';
import { ClientConnectionLimit, clientAddress } from '../../src/http/client-connections.js';
import { BodyRateGuard } from '../../src/http/slow-clients.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { serviceToken } from '../helpers/tokens.js';
import { eventually } from './support.js';

// Slow and greedy clients (src/http/slow-clients.ts, src/http/client-connections.ts): headers trickled past
// HEADERS_TIMEOUT_MS and bodies trickled below BODY_MIN_RATE are answered 408 and closed, connections over
// MAX_CONNECTIONS_PER_CLIENT from one address are refused with 429, and meanwhile /healthz and other
// addresses are served. Every slow client is a raw socket on loopback, from an address of its own in
// 127.0.0.0/8 (Linux routes the whole block to lo), so that the cap of one never touches the others.
// The timings are shortened through the environment; nothing asserts how fast anything runs, the waits for
// the server to close a connection have generous deadlines.

const HEADERS_TIMEOUT_MS = 2_000;
const GRACE_MS = 2_000;
const MAX_PER_CLIENT = 12;
const CLOSE_DEADLINE_MS = 30_000;

let app: TestApp;
let port: number;
before(async () => {
  app = await startTestApp({
    HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
    BODY_RATE_GRACE_MS: String(GRACE_MS),
    BODY_MIN_RATE: '1024',
    MAX_CONNECTIONS_PER_CLIENT: String(MAX_PER_CLIENT),
  });
  port = app.server.port;
});
after(async () => app?.close());

interface RawConnection {
  socket: net.Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Settles with everything the server sent, once the connection is closed (by either side). */
  closed: Promise<string>;
  isClosed(): boolean;
}

/** A TCP connection to `port` from `localAddress`, connected. */
async function connectFrom(localAddress: string, to = port): Promise<RawConnection> {
  const socket = net.connect({ host: '127.0.0.1', port: to, localAddress });
  let data = '';
  let isClosed = false;
  socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
  socket.on('error', () => undefined); // a reset is a close too; what arrived before it is kept
  const closed = new Promise<string>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      resolve(data);
    }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, received: () => data, closed, isClosed: () => isClosed };
}

/** Writes `bytes` one a time, every `everyMs`, until the socket closes. */
function trickle(connection: RawConnection, bytes: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (connection.socket.destroyed || i >= bytes.length) return clearInterval(timer);
    connection.socket.write(bytes[i++]!);
  }, everyMs);
  void connection.closed.then(() => clearInterval(timer));
}

function withinDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** The status, headers (lowercased names) and body of the first HTTP response in `raw`. */
function parseResponse(raw: string): { status: number; headers: Record<string, string>; body: string } {
  const end = raw.indexOf('\r\n\r\n');
  assert.ok(end > 0, `not an HTTP response: ${JSON.stringify(raw.slice(0, 200))}`);
  const [statusLine = '', ...lines] = raw.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: raw.slice(end + 4) };
}

async function healthz(): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`);
  await response.arrayBuffer();
  return response.status;
}

describe('slow clients against the real server', () => {
  it('closes request bodies trickled below BODY_MIN_RATE with 408 after the grace, while /healthz keeps answering', async () => {
    const slow = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const connection = await connectFrom('127.0.0.2');
        // An unauthenticated MCP request (the endpoint reads the body before it looks at the token).
        connection.socket.write(
          `POST /v1 HTTP/1.1\r\nHost: localhost:${port}\r\nContent-Type: application/json\r\n` +
            `Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n`,
        );
        trickle(connection, `{"jsonrpc":"2.0","id":1,"method":"ping"${' '.repeat(1000)}`, 1_000);
        return connection;
      }),
    );
    for (let i = 0; i < 3; i++) assert.equal(await healthz(), 200, '/healthz answers while the slow bodies are open');
    const stillOpen = slow.filter((c) => !c.isClosed()).length;
    process.stderr.write(`slow bodies: ${stillOpen} of ${slow.length} still open during the health checks\n`);

    const answers = await withinDeadline(Promise.all(slow.map((c) => c.closed)), CLOSE_DEADLINE_MS, 'the server to close the slow bodies');
    for (const raw of answers) {
      const { status, headers, body } = parseResponse(raw);
      assert.equal(status, 408, raw);
      assert.equal(headers['content-type'], 'application/problem+json');
      const problem = JSON.parse(body) as Record<string, unknown>;
      assert.equal(problem.status, 408);
      assert.equal(problem.title, 'Request Timeout');
      assert.equal(problem.code, 'request_timeout');
      assert.match(String(problem.detail), /slower than 1024 bytes\/s/);
    }
    assert.equal(await healthz(), 200);
  });

  it('answers 408 to headers trickled past HEADERS_TIMEOUT_MS, and to a connection that sends nothing', async () => {
    const trickled = await Promise.all(
      Array.from({ length: 3 }, async () => {
        const connection = await connectFrom('127.0.0.3');
        trickle(connection, `GET /healthz HTTP/1.1\r\nHost: localhost:${port}\r\nX-Slow: ${'a'.repeat(500)}`, 200);
        return connection;
      }),
    );
    const silent = await connectFrom('127.0.0.3');
    assert.equal(await healthz(), 200);
    const answers = await withinDeadline(
      Promise.all([...trickled, silent].map((c) => c.closed)),
      CLOSE_DEADLINE_MS,
      'the server to close the slow headers',
    );
    for (const raw of answers) assert.equal(parseResponse(raw).status, 408, raw);
  });

  it('does not cut a 50 MiB CSV upload at normal speed through the data-loading route', async () => {
    const token = await serviceToken(app, 'acme/production', ['read', 'write']);
    const rows = 500_000;
    const pad = 'x'.repeat(100);
    const lines = ['id,label,amount'];
    for (let i = 0; i < rows; i++) lines.push(`${i},${pad}${i % 10},${i % 1000}.25`);
    const csv = Buffer.from(lines.join('\n') + '\n');
    assert.ok(csv.length > 50 * 1024 * 1024, `the body is ${csv.length} bytes`);
    const response = await fetch(`${app.url}/api/v1/lakehouse/tables/big_upload/rows`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' },
      body: csv,
    });
    const body = (await response.json()) as { rows?: number };
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.equal(body.rows, rows);
  });

  it('refuses connections over MAX_CONNECTIONS_PER_CLIENT from one address with 429, while another address is served', async () => {
    const get = `GET /healthz HTTP/1.1\r\nHost: localhost:${port}\r\n\r\n`;
    // Connections the server has surely accepted: each got an answer, and stays open (keep-alive).
    const held = await Promise.all(
      Array.from({ length: MAX_PER_CLIENT }, async () => {
        const connection = await connectFrom('127.0.0.4');
        connection.socket.write(get);
        await eventually(() => connection.received().includes('\r\n\r\n'), 20_000, 'an answer on a held connection');
        assert.equal(parseResponse(connection.received()).status, 200);
        return connection;
      }),
    );
    try {
      const over = await connectFrom('127.0.0.4');
      over.socket.write(get);
      const refused = parseResponse(await withinDeadline(over.closed, CLOSE_DEADLINE_MS, 'the refusal'));
      assert.equal(refused.status, 429);
      assert.equal(refused.headers['retry-after'], '1');
      assert.equal(refused.headers['content-type'], 'application/problem+json');
      assert.equal((JSON.parse(refused.body) as { code: string }).code, 'too_many_connections');

      assert.equal(await healthz(), 200, 'another address (127.0.0.1) is served');
      const other = await connectFrom('127.0.0.5');
      other.socket.write(get);
      await eventually(() => other.received().includes('\r\n\r\n'), 20_000, 'an answer to another address');
      assert.equal(parseResponse(other.received()).status, 200);
      other.socket.destroy();

      // One held connection closed: the address may open another.
      held.pop()!.socket.destroy();
      await eventually(
        async () => {
          const again = await connectFrom('127.0.0.4');
          try {
            again.socket.write(get);
            await eventually(() => again.received().includes('\r\n\r\n'), 10_000, 'an answer');
            return parseResponse(again.received()).status === 200;
          } finally {
            again.socket.destroy();
          }
        },
        20_000,
        'a connection from the address to be served again',
        250,
      );
    } finally {
      for (const connection of held) connection.socket.destroy();
    }
  });
});

/** A plain server on 127.0.0.1 for the guards alone; resolves with it and its port. */
async function plainServer(
  listener: http.RequestListener,
  setup: (server: http.Server) => void = () => undefined,
): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer(listener);
  setup(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('BodyRateGuard', () => {
  it('does not count the time the server is not reading (a consumer slower than the upload) against the client', async () => {
    // The consumer takes ~256 KiB/s; the guard asks for 2 MiB/s. Counted over the whole time, the upload would
    // average the consumer's speed and be cut after the grace; counted only while the server waits for bytes,
    // a client on loopback is far faster than that.
    const guard = new BodyRateGuard({ minRate: 2 * 1024 * 1024, graceMs: 300 });
    const { server, port: plainPort } = await plainServer((req, res) => {
      guard.track(req, res);
      let received = 0;
      const slowConsumer = new Writable({
        highWaterMark: 16 * 1024,
        write(chunk: Buffer, _encoding, callback) {
          received += chunk.length;
          setTimeout(callback, chunk.length / 256);
        },
      });
      req.pipe(slowConsumer).on('finish', () => res.end(`received ${received}`));
    });
    try {
      const body = Buffer.alloc(1024 * 1024, 'a');
      const response = await fetch(`http://127.0.0.1:${plainPort}/`, { method: 'POST', body });
      assert.equal(response.status, 200);
      assert.equal(await response.text(), `received ${body.length}`);
    } finally {
      guard.stop();
      await closeServer(server);
    }
  });
});

describe('behind a proxy (TRUST_PROXY=1)', () => {
  it('counts requests in flight per X-Forwarded-For client and answers 429 problem+json with Retry-After over the limit', async () => {
    const limit = new ClientConnectionLimit({ max: 2, trustProxy: true });
    const waiting: (() => void)[] = [];
    const { server, port: plainPort } = await plainServer(
      (req, res) => {
        if (!limit.admit(req, res)) return;
        waiting.push(() => res.end('ok'));
      },
      (s) => limit.attach(s), // a no-op behind a proxy: every socket is the proxy's
    );
    const request = (client: string) => fetch(`http://127.0.0.1:${plainPort}/`, { headers: { 'x-forwarded-for': client } });
    try {
      const first = [request('203.0.113.7'), request('203.0.113.7')];
      await eventually(() => waiting.length === 2, 10_000, 'two requests in flight');
      const refused = await request('203.0.113.7');
      assert.equal(refused.status, 429);
      assert.equal(refused.headers.get('retry-after'), '1');
      assert.equal(refused.headers.get('content-type'), 'application/problem+json');
      assert.equal(((await refused.json()) as { code: string }).code, 'too_many_connections');

      const other = request('203.0.113.8');
      await eventually(() => waiting.length === 3, 10_000, 'another client to be admitted');
      for (const release of waiting.splice(0)) release();
      for (const response of await Promise.all([...first, other])) assert.equal(await response.text(), 'ok');
      await eventually(() => limit.openFor('203.0.113.7') === 0, 10_000, 'the finished requests to be released');

      const again = request('203.0.113.7');
      await eventually(() => waiting.length === 1, 10_000, 'the client to be admitted again');
      waiting.pop()!();
      assert.equal((await again).status, 200);
    } finally {
      await closeServer(server);
    }
  });

  it('takes the client address the way Koa gives ctx.ip (the per-address rate limits use it)', () => {
    const forwarded = [undefined, '', '203.0.113.7', '203.0.113.7, 10.0.0.2', ' 198.51.100.1 ,10.0.0.2', ',10.0.0.2', '2001:db8::1'];
    for (const proxy of [false, true]) {
      const koa = new Koa({ proxy });
      for (const header of forwarded) {
        const req = {
          headers: header === undefined ? {} : { 'x-forwarded-for': header },
          socket: { remoteAddress: '192.0.2.10' },
        } as unknown as http.IncomingMessage;
        const ctx = koa.createContext(req, {} as http.ServerResponse);
        assert.equal(clientAddress(req, proxy), ctx.ip, `proxy ${proxy}, X-Forwarded-For ${JSON.stringify(header)}`);
      }
    }
  });
});
