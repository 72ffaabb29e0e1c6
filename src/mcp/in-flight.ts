import type { RequestId } from '@modelcontextprotocol/sdk/types.js';
import { CancelledError } from '../errors.js';
import type { Principal } from '../oauth/principal.js';

/**
 * The requests this process is running, so that `notifications/cancelled` can abort one.
 *
 * Stateless limits, by design: a cancellation reaches a request only when it lands on the same process as
 * the request (behind a load balancer it may not; there is no cross-process channel, and the work then
 * runs to its end, its result unused). And without sessions, a request is known by (subject, client,
 * JSON-RPC id): two connections of the same user and client that reuse an id are both cancelled. A
 * cancellation can never reach another principal's request.
 */
export class InFlightRequests {
  private readonly running = new Map<string, Set<AbortController>>();

  private static key(principal: Principal, id: RequestId): string {
    return `${principal.subject}\n${principal.clientId}\n${typeof id}:${String(id)}`;
  }

  /** Registers a request; call the returned function when it ends. */
  add(principal: Principal, id: RequestId, controller: AbortController): () => void {
    const key = InFlightRequests.key(principal, id);
    let set = this.running.get(key);
    if (!set) this.running.set(key, (set = new Set()));
    set.add(controller);
    return () => {
      set.delete(controller);
      if (set.size === 0 && this.running.get(key) === set) this.running.delete(key);
    };
  }

  /** Aborts the matching requests; answers how many there were. */
  cancel(principal: Principal, id: RequestId, reason: string): number {
    const set = this.running.get(InFlightRequests.key(principal, id));
    if (!set) return 0;
    for (const controller of set) controller.abort(new CancelledError(reason));
    return set.size;
  }

  get size(): number {
    return this.running.size;
  }
}
