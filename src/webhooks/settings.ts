// Webhook delivery settings, from the environment (all optional). They are read by the worker only, so
// they live here rather than in src/config.ts.

export interface WebhookSettings {
  /** Attempts before a delivery is `dead` (WEBHOOK_MAX_ATTEMPTS, default 8). */
  maxAttempts: number;
  /** First retry delay; doubles per attempt, with jitter (WEBHOOK_RETRY_BASE_MS, default 10 s). */
  retryBaseMs: number;
  /** Longest retry delay (WEBHOOK_RETRY_MAX_MS, default 1 h). */
  retryMaxMs: number;
  /** Per-attempt deadline (WEBHOOK_TIMEOUT_MS, default 10 s). */
  timeoutMs: number;
  /** How often a worker looks for due deliveries (WEBHOOK_POLL_MS, default 1 s). */
  pollMs: number;
  /** Delivered and dead rows are deleted after this long (WEBHOOK_RETENTION_HOURS, default 168 = 7 days). */
  retentionHours: number;
  /** Deliveries claimed per poll (WEBHOOK_BATCH, default 20). */
  batch: number;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be a whole number >= ${min}, got "${raw}"`);
  return value;
}

export function webhookSettings(env: NodeJS.ProcessEnv = process.env): WebhookSettings {
  return {
    maxAttempts: integer(env, 'WEBHOOK_MAX_ATTEMPTS', 8, 1),
    retryBaseMs: integer(env, 'WEBHOOK_RETRY_BASE_MS', 10_000, 1),
    retryMaxMs: integer(env, 'WEBHOOK_RETRY_MAX_MS', 3_600_000, 1),
    timeoutMs: integer(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 100),
    pollMs: integer(env, 'WEBHOOK_POLL_MS', 1_000, 10),
    retentionHours: integer(env, 'WEBHOOK_RETENTION_HOURS', 168, 0),
    batch: integer(env, 'WEBHOOK_BATCH', 20, 1),
  };
}

/** Exponential backoff with "equal jitter": half the doubled delay fixed, half random. */
export function retryDelayMs(
  settings: Pick<WebhookSettings, 'retryBaseMs' | 'retryMaxMs'>,
  attempts: number,
  random = Math.random(),
): number {
  const delay = Math.min(settings.retryMaxMs, settings.retryBaseMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(delay / 2 + (random * delay) / 2);
}
