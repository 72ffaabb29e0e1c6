import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../logger.js';
import { writeProblem } from './raw-problem.js';

// Slow clients (slowloris): a connection that trickles its headers or its body holds a socket, a parser and
// often a handler waiting on the body, for as long as it likes. Headers are bounded by Node itself
// (headersTimeout: it answers 408 and closes); bodies by BodyRateGuard below, by rate rather than by a total
// time, so that a big upload at normal speed (the REST load takes 256 MiB) is never cut.

export interface SlowClientSettings {
  /** HEADERS_TIMEOUT_MS */
  headersTimeoutMs: number;
  /** BODY_MIN_RATE, bytes/s (0 = not checked) */
  bodyMinRate: number;
  /** BODY_RATE_GRACE_MS */
  bodyRateGraceMs: number;
}

/** The http.Server options of the header timeout. */
export function slowClientServerOptions(settings: SlowClientSettings): http.ServerOptions {
  return {
    headersTimeout: settings.headersTimeoutMs,
    // requestTimeout bounds a whole request, body included (300 s by default), so it would cut a big upload on a
    // slow but honest link; the body rate check replaces it.
    requestTimeout: 0,
    // Node looks for expired headers only this often (30 s by default, so a 30 s timeout could take 60 s).
    connectionsCheckingInterval: Math.max(100, Math.min(5_000, Math.floor(settings.headersTimeoutMs / 2))),
  };
}

/**
 * Time a socket spent paused by the server (the handler not reading: its request buffer is full, e.g. COPY
 * into PostgreSQL is slower than the upload, or the handler has not started reading yet). Node's HTTP server
 * stops and restarts reading a socket through its 'pause' and 'resume' events, so they are exactly the time
 * the server was not reading; listening to them does not change the stream's mode (a 'data' listener would).
 */
interface HeldClock {
  ms: number;
  since: number | undefined;
}

interface Upload {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  socket: Socket;
  clock: HeldClock;
  startedAt: number;
  heldAtStart: number;
  bytesAtStart: number;
}

function expectsBody(req: http.IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Cuts requests whose body arrives slower than `minRate` bytes/s, averaged over the time the server was
 * ready to read it, once that time exceeds `graceMs`: 408 problem+json when no answer has started (else the
 * connection is just closed). One timer for all requests, running only while some body is in flight.
 */
export class BodyRateGuard {
  private readonly uploads = new Set<Upload>();
  private readonly clocks = new WeakMap<Socket, HeldClock>();
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: { minRate: number; graceMs: number; log?: Logger; now?: () => number }) {
    this.intervalMs = Math.max(50, Math.min(1_000, Math.floor(options.graceMs / 2)));
  }

  private now(): number {
    return this.options.now ? this.options.now() : performance.now();
  }

  /** Watches the body of `req` until it has all arrived or its socket closes. */
  track(req: http.IncomingMessage, res: http.ServerResponse): void {
    const socket = req.socket;
    if (this.options.minRate <= 0 || req.complete || socket.destroyed || !expectsBody(req)) return;
    const now = this.now();
    const clock = this.clockOf(socket, now);
    this.uploads.add({ req, res, socket, clock, startedAt: now, heldAtStart: held(clock, now), bytesAtStart: socket.bytesRead });
    this.timer ??= setInterval(() => this.check(), this.intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.uploads.clear();
  }

  /** One clock per socket, for its life (a keep-alive socket carries many requests: no listener per request). */
  private clockOf(socket: Socket, now: number): HeldClock {
    let clock = this.clocks.get(socket);
    if (!clock) {
      const c: HeldClock = { ms: 0, since: socket.isPaused() ? now : undefined };
      socket.on('pause', () => {
        c.since ??= this.now();
      });
      socket.on('resume', () => {
        if (c.since === undefined) return;
        c.ms += this.now() - c.since;
        c.since = undefined;
      });
      this.clocks.set(socket, (clock = c));
    }
    return clock;
  }

  private check(): void {
    const now = this.now();
    const { minRate, graceMs } = this.options;
    for (const upload of this.uploads) {
      const { req, socket } = upload;
      if (req.complete || socket.destroyed) {
        this.uploads.delete(upload);
        continue;
      }
      // Only the time the server was ready to read counts against the client.
      const clientMs = now - upload.startedAt - (held(upload.clock, now) - upload.heldAtStart);
      if (clientMs < graceMs) continue;
      const bytes = socket.bytesRead - upload.bytesAtStart;
      if (bytes * 1000 >= minRate * clientMs) continue;
      this.uploads.delete(upload);
      this.cut(upload, bytes, clientMs);
    }
    if (this.uploads.size === 0) this.stop();
  }

  private cut({ req, res, socket }: Upload, bytes: number, clientMs: number): void {
    this.options.log?.info(
      { client: socket.remoteAddress, method: req.method, path: req.url?.split('?')[0], bytes, ms: Math.round(clientMs) },
      'request body too slow: closing the connection',
    );
    if (res.headersSent || res.writableEnded) {
      socket.destroy();
      return;
    }
    // Node closes the socket once this answer is written (Connection: close); the handler still waiting for the
    // body then sees the request aborted. The timer closes a socket whose client does not read the answer.
    const detail = `The request body arrived slower than ${this.options.minRate} bytes/s; send it faster or in one piece`;
    writeProblem(res, 'request_timeout', detail, { connection: 'close' });
    setTimeout(() => socket.destroy(), 2_000).unref();
  }
}

function held(clock: HeldClock, now: number): number {
  return clock.ms + (clock.since === undefined ? 0 : now - clock.since);
}
