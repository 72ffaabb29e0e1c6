import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../logger.js';
import { rawProblemResponse, writeProblem } from './raw-problem.js';

// MAX_CONNECTIONS_PER_CLIENT: one client address may hold only so many connections at once, so that slow or
// idle connections from one place cannot take all the server's sockets while others still get served.
// Without TRUST_PROXY the address is the socket's, counted as connections open; behind a proxy every socket
// is the proxy's, so requests in flight are counted per X-Forwarded-For client instead.

/**
 * The client address of a request: the one Koa gives as ctx.ip (src/http/app.ts creates the app with
 * `proxy: config.trustProxy`), which the per-address limits of src/oauth/routes.ts count: with TRUST_PROXY the
 * left-most X-Forwarded-For entry (the proxy overwrites the header, docs/operations.md), else the socket's peer.
 */
export function clientAddress(req: http.IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = req.headers['x-forwarded-for'];
    const first = (Array.isArray(forwarded) ? forwarded.join(',') : (forwarded ?? '')).split(',')[0]?.trim();
    if (first) return first;
  }
  return req.socket.remoteAddress ?? '';
}

const RETRY_AFTER_SECONDS = 1;
/** How long a refused socket may linger (its client reading the answer) before it is closed. */
const REFUSED_LINGER_MS = 2_000;

export class ClientConnectionLimit {
  private readonly open = new Map<string, number>();
  /** Addresses at the limit whose refusal was logged (once until they drop back to nothing). */
  private readonly warned = new Set<string>();

  constructor(private readonly options: { max: number; trustProxy: boolean; log?: Logger }) {}

  /** How many connections (or requests, behind a proxy) `address` has open. */
  openFor(address: string): number {
    return this.open.get(address) ?? 0;
  }

  /**
   * Without TRUST_PROXY: counts each new socket of `server` against its remote address and refuses one over
   * the limit before Node's HTTP parser sees it (so its requests never run): the listeners http.Server put on
   * 'connection' are wrapped. Call before listen().
   */
  attach(server: http.Server): void {
    if (this.options.max <= 0 || this.options.trustProxy) return;
    const inner = server.listeners('connection') as ((socket: Socket) => void)[];
    server.removeAllListeners('connection');
    server.on('connection', (socket: Socket) => {
      const address = socket.remoteAddress ?? '';
      if (!this.take(address)) {
        this.refuse(socket, address);
        return;
      }
      socket.once('close', () => this.release(address));
      for (const listener of inner) listener.call(server, socket);
    });
  }

  /**
   * With TRUST_PROXY: counts `req` against its X-Forwarded-For client until its answer is done; over the
   * limit, answers 429 and returns false (the caller must not handle it).
   */
  admit(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    if (this.options.max <= 0 || !this.options.trustProxy) return true;
    const address = clientAddress(req, true);
    if (!this.take(address)) {
      this.noteRefusal(address);
      writeProblem(res, 'too_many_connections', this.detail('requests in progress'), { 'retry-after': String(RETRY_AFTER_SECONDS) });
      return false;
    }
    res.once('close', () => this.release(address));
    return true;
  }

  private take(address: string): boolean {
    const count = this.openFor(address);
    if (count >= this.options.max) return false;
    this.open.set(address, count + 1);
    return true;
  }

  private release(address: string): void {
    const count = this.openFor(address) - 1;
    if (count > 0) {
      this.open.set(address, count);
    } else {
      this.open.delete(address);
      this.warned.delete(address);
    }
  }

  private detail(what: string): string {
    return `This client address already has ${this.options.max} ${what} (MAX_CONNECTIONS_PER_CLIENT); retry once one has finished.`;
  }

  private noteRefusal(address: string): void {
    if (this.warned.has(address)) return;
    this.warned.add(address);
    this.options.log?.warn({ client: address, max: this.options.max }, 'client at MAX_CONNECTIONS_PER_CLIENT: refusing more');
  }

  /**
   * A short 429 and a close. What the client sends meanwhile is read and dropped, so that closing with unread
   * input does not reset the connection before the client has read the answer.
   */
  private refuse(socket: Socket, address: string): void {
    this.noteRefusal(address);
    socket.on('error', () => socket.destroy());
    socket.end(rawProblemResponse('too_many_connections', this.detail('connections open'), { 'Retry-After': String(RETRY_AFTER_SECONDS) }));
    socket.resume();
    const timer = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
    socket.once('close', () => clearTimeout(timer));
    socket.once('end', () => socket.destroy());
  }
}
