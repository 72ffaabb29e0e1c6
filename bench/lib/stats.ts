/** What one load run measured. Latencies in milliseconds. */
export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  requests: number;
  /** CPU time the server process spent per request (user + system, from /proc), in µs: steadier than rps on a loaded machine. */
  cpuUs?: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? NaN;
}

/** Summary of the latencies of successful requests over `elapsedMs`. */
export function summarize(latencies: number[], errors: number, elapsedMs: number): LoadResult {
  const sorted = Float64Array.from(latencies).sort();
  return {
    rps: (latencies.length / elapsedMs) * 1000,
    p50: percentile(Array.from(sorted), 50),
    p99: percentile(Array.from(sorted), 99),
    errors,
    requests: latencies.length + errors,
  };
}

export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** The median of each figure over several runs (rps, p50, p99 separately; errors summed). */
export function medianOf(runs: readonly LoadResult[]): LoadResult & { rounds: number; cpuUs: number } {
  return {
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    requests: runs.reduce((n, r) => n + r.requests, 0),
    cpuUs: median(runs.map((r) => r.cpuUs ?? NaN)),
    rounds: runs.length,
  };
}
