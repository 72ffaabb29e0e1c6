import type { ServerResponse } from 'node:http';
import type { JSONRPCNotification } from '@modelcontextprotocol/sdk/types.js';

/**
 * The one HTTP response of one POSTed JSON-RPC request. It answers plain JSON unless the handler sends a
 * notification first (progress, log messages): then it switches to an SSE stream (`text/event-stream`),
 * sends each notification as an event, and ends with the response as the last event.
 *
 * No event ids and no priming event: the server is stateless and keeps nothing to resume a stream from, so
 * it offers no `Last-Event-ID` reconnection (GET answers 405).
 */
export class ResponseChannel {
  private streaming = false;

  constructor(
    private readonly res: ServerResponse,
    /** Called once, right before the SSE headers go out (e.g. to tell Koa that we write the response). */
    private readonly onStream: () => void = () => undefined,
  ) {}

  /** Whether the response has become an SSE stream. */
  get isStreaming(): boolean {
    return this.streaming;
  }

  /** Whether the client can still receive anything. */
  get isOpen(): boolean {
    return !this.res.writableEnded && !this.res.destroyed;
  }

  /** Sends a notification ahead of the response, switching to SSE on the first one. */
  notify(notification: JSONRPCNotification): void {
    if (!this.isOpen) return;
    if (!this.streaming) {
      this.streaming = true;
      this.onStream();
      this.res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        // Proxies such as nginx would otherwise hold the events back.
        'x-accel-buffering': 'no',
      });
    }
    this.res.write(sseEvent(JSON.stringify(notification)));
  }

  /** An SSE comment line (ignored by clients; keeps idle connections alive). Only valid once streaming. */
  comment(text: string): void {
    if (this.streaming && this.isOpen) this.res.write(`: ${text}\n\n`);
  }

  /** Ends an SSE stream with the response as its last event. Only valid once streaming. */
  endStream(responseJson: string): void {
    if (!this.isOpen) return;
    this.res.end(sseEvent(responseJson));
  }
}

/** One SSE `message` event; JSON text never holds a raw newline, so one `data:` line suffices. */
export const sseEvent = (json: string): string => `event: message\ndata: ${json}\n\n`;
