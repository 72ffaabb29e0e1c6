import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

// A webhook receiver as a partner would write one: it verifies every request with a Standard Webhooks
// library, answers according to `mode`, and applies each message once (deduplicating by webhook-id).

export type ReceiverMode = 'ok' | 'down' | 'fail-after-processing' | 'redirect';

export interface Receiver {
  url: string;
  /** Every request that arrived, verified or not. */
  requests: { id: string; verified: boolean; body: string }[];
  /** Messages applied once each, by webhook-id. */
  applied: Map<string, unknown>;
  mode: ReceiverMode;
  setSecret(secret: string): void;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  let verifier: Webhook | undefined;
  const state: Receiver = {
    url: '',
    requests: [],
    applied: new Map(),
    mode: 'ok',
    setSecret(secret) {
      verifier = new Webhook(secret);
    },
    close: async () => undefined,
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const id = String(req.headers['webhook-id'] ?? '');
      let payload: unknown;
      let verified = false;
      try {
        payload = verifier?.verify(body, req.headers as Record<string, string>);
        verified = verifier !== undefined;
      } catch {
        verified = false;
      }
      state.requests.push({ id, verified, body });
      if (state.mode === 'down') return res.writeHead(503).end('down for maintenance');
      if (state.mode === 'redirect') return res.writeHead(302, { location: 'http://169.254.169.254/' }).end();
      if (!verified) return res.writeHead(401).end('bad signature');
      if (!state.applied.has(id)) state.applied.set(id, payload);
      // Processed, but the answer is lost: the sender must retry, and the dedup keeps the effect single.
      if (state.mode === 'fail-after-processing') return res.writeHead(500).end('oops');
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/lakehouse`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return state;
}
