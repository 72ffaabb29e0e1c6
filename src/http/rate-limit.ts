import { AppError } from '../errors.js';

// TOOL_CALL_LIMIT: tool calls per environment per minute, counted in this process's memory so that a call
// adds no database round trip (README.md, "Performance"). The limit is therefore PER PROCESS: N processes behind a load
// balancer let an environment make up to N × TOOL_CALL_LIMIT calls a minute. The shared limits
// (registration, sign-in, token requests) are counted in Postgres instead (src/oauth/rate-limit.ts).

export type Admission = { ok: true } | { ok: false; retryAfter: number; limit: number };

/**
 * A fixed-window counter per key (an environment id). The window is aligned to the clock (every minute on
 * the minute), and the whole map is dropped when a window ends, so memory stays bounded by the number of
 * environments active within one window, with no timers.
 */
export class FixedWindowLimiter {
  private window = -1;
  private counts = new Map<string, number>();

  constructor(
    readonly limit: number,
    readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one call for `key`; refuses it (without counting) once the window holds `limit` calls. */
  take(key: string): Admission {
    if (this.limit <= 0) return { ok: true };
    const now = this.now();
    const window = Math.floor(now / this.windowMs);
    if (window !== this.window) {
      this.window = window;
      this.counts = new Map();
    }
    const used = this.counts.get(key) ?? 0;
    if (used >= this.limit) {
      const retryAfter = Math.max(1, Math.ceil(((window + 1) * this.windowMs - now) / 1000));
      return { ok: false, retryAfter, limit: this.limit };
    }
    this.counts.set(key, used + 1);
    return { ok: true };
  }
}

/** The message of a refused tool call: what the limit is, that it is per process, and when to retry. */
export function toolCallLimitMessage(refusal: { retryAfter: number; limit: number }): string {
  return `Rate limited: this environment made more than ${refusal.limit} tool calls in the last minute (TOOL_CALL_LIMIT, per server process). Retry in ${refusal.retryAfter} s.`;
}

/** The REST form of a refusal: 429 rate_limited with Retry-After. */
export function toolCallLimitError(refusal: { retryAfter: number; limit: number }): AppError {
  return new AppError('rate_limited', toolCallLimitMessage(refusal), { headers: { 'Retry-After': String(refusal.retryAfter) } });
}
