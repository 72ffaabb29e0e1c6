import path from 'node:path';

/** Server and CLI configuration, read once from the environment (README.md, "Configuration"). */
export interface Config {
  port: number;
  host: string;
  /** External base URL of the MCP resource, without a trailing slash. */
  publicUrl: string;
  /** The OAuth issuer, without a trailing slash. */
  issuerUrl: string;
  /** External PostgreSQL; undefined means the embedded cluster in dataDir. */
  databaseUrl: string | undefined;
  dataDir: string;
  /** base64 of 32 bytes, or undefined to generate one into dataDir. */
  secretKey: string | undefined;
  allowPrivateNetwork: boolean;
  trustProxy: boolean;
  registrationLimit: number;
  signinLimit: number;
  /** Failed token requests per client address per minute (TOKEN_LIMIT). */
  tokenLimit: number;
  toolCallLimit: number;
  /** Audit rows older than this many days are pruned. */
  auditRetentionDays: number;
  /** Statements of one environment at once on an external PostgreSQL connection (SQL_CONCURRENCY). */
  sqlConcurrency: number;
  /** Where the sample's Parquet files are made and kept (SAMPLE_DIR; installs may share one). */
  sampleDir: string;
  /** About how many events the sample has (SAMPLE_EVENTS). */
  sampleEvents: number;
  /** DuckDB worker processes of this server process at most (QUERY_WORKERS): one per active environment. */
  queryWorkers: number;
  /** DuckDB's memory limit per worker (QUERY_WORKER_MEMORY_MB); the process is killed at 1.5 times it plus 256 MiB. */
  queryWorkerMemoryMb: number;
  /** Threads of each worker's DuckDB (QUERY_WORKER_THREADS). */
  queryWorkerThreads: number;
  /** How long an environment's statement waits for its worker before `busy` (QUERY_QUEUE_MS). */
  queryQueueMs: number;
  logLevel: string;
  allowedOrigins: string[];
  /** Time a client has to send a request's headers (HEADERS_TIMEOUT_MS); then 408 and the connection closes. */
  headersTimeoutMs: number;
  /**
   * The slowest a request body may arrive (BODY_MIN_RATE, bytes/s, 0 = not checked), averaged over the time the
   * server was ready to read it, once that time exceeds BODY_RATE_GRACE_MS; slower → 408 and a close.
   */
  bodyMinRate: number;
  /** How long a body may arrive at any speed before BODY_MIN_RATE applies (BODY_RATE_GRACE_MS). */
  bodyRateGraceMs: number;
  /** Connections one client address may have open at once; requests in progress with TRUST_PROXY (0 = unlimited). */
  maxConnectionsPerClient: number;
  /** Query jobs (docs/jobs.md) running at once per environment, across all processes (JOB_CONCURRENCY_PER_ENV). */
  jobConcurrencyPerEnv: number;
  /** Query jobs waiting per environment beyond those running; more are refused with `busy` (JOB_MAX_QUEUED_PER_ENV). */
  jobMaxQueuedPerEnv: number;
  /** The longest a query job may run (JOB_TIMEOUT_MS); a job may ask for less. */
  jobTimeoutMs: number;
  /** The largest full result one export or job writes (EXPORT_MAX_BYTES). */
  exportMaxBytes: number;
  /** How long result files are kept (RESULT_TTL_HOURS; decimals allowed). */
  resultTtlMs: number;
  /** Bytes of result files one environment may hold (RESULT_QUOTA_BYTES). */
  resultQuotaBytes: number;
  /** Result files one environment may write at once (EXPORT_CONCURRENCY_PER_ENV). */
  exportConcurrencyPerEnv: number;
}

export class ConfigError extends Error {}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new ConfigError(`${name} must be a whole number >= ${min}, got "${raw}"`);
  }
  return value;
}

function positive(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new ConfigError(`${name} must be a number > 0, got "${raw}"`);
  return value;
}

function url(name: string, raw: string): string {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an absolute URL such as https://mcp.example.com, got "${raw}"`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError(`${name} must use http or https, got "${raw}"`);
  }
  if (parsed.search || parsed.hash) throw new ConfigError(`${name} must not have a query or fragment`);
  return parsed.href.replace(/\/+$/, '');
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const port = integer(env, 'PORT', 3000);
  if (port > 65535) throw new ConfigError(`PORT must be at most 65535, got ${port}`);
  const publicUrl = url('PUBLIC_URL', env.PUBLIC_URL || `http://localhost:${port}`);
  const issuerUrl = url('ISSUER_URL', env.ISSUER_URL || publicUrl);
  const extraOrigins = (env.ALLOWED_ORIGINS ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean)
    .map((o) => new URL(url('ALLOWED_ORIGINS', o)).origin);
  return {
    port,
    host: env.HOST || '127.0.0.1',
    publicUrl,
    issuerUrl,
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: path.resolve(env.DATA_DIR || '.data'),
    secretKey: env.SECRET_KEY || undefined,
    allowPrivateNetwork: env.ALLOW_PRIVATE_NETWORK === '1',
    trustProxy: env.TRUST_PROXY === '1',
    registrationLimit: integer(env, 'REGISTRATION_LIMIT', 20),
    signinLimit: integer(env, 'SIGNIN_LIMIT', 10),
    tokenLimit: integer(env, 'TOKEN_LIMIT', 60),
    toolCallLimit: integer(env, 'TOOL_CALL_LIMIT', 1200),
    auditRetentionDays: integer(env, 'AUDIT_RETENTION_DAYS', 90, 1),
    sqlConcurrency: integer(env, 'SQL_CONCURRENCY', 4, 1),
    sampleDir: path.resolve(env.SAMPLE_DIR || path.join(env.DATA_DIR || '.data', 'sample')),
    sampleEvents: integer(env, 'SAMPLE_EVENTS', 10_000_000, 10_000),
    queryWorkers: integer(env, 'QUERY_WORKERS', 8, 1),
    queryWorkerMemoryMb: integer(env, 'QUERY_WORKER_MEMORY_MB', 1024, 64),
    queryWorkerThreads: integer(env, 'QUERY_WORKER_THREADS', 2, 1),
    queryQueueMs: integer(env, 'QUERY_QUEUE_MS', 5_000, 0),
    logLevel: env.LOG_LEVEL || 'info',
    allowedOrigins: [...new Set([new URL(publicUrl).origin, new URL(issuerUrl).origin, ...extraOrigins])],
    headersTimeoutMs: integer(env, 'HEADERS_TIMEOUT_MS', 30_000, 1),
    bodyMinRate: integer(env, 'BODY_MIN_RATE', 1024),
    bodyRateGraceMs: integer(env, 'BODY_RATE_GRACE_MS', 10_000, 1),
    maxConnectionsPerClient: integer(env, 'MAX_CONNECTIONS_PER_CLIENT', 128),
    jobConcurrencyPerEnv: integer(env, 'JOB_CONCURRENCY_PER_ENV', 2, 1),
    jobMaxQueuedPerEnv: integer(env, 'JOB_MAX_QUEUED_PER_ENV', 10),
    jobTimeoutMs: integer(env, 'JOB_TIMEOUT_MS', 600_000, 1_000),
    exportMaxBytes: integer(env, 'EXPORT_MAX_BYTES', 1024 ** 3, 1),
    resultTtlMs: Math.round(positive(env, 'RESULT_TTL_HOURS', 24) * 3_600_000),
    resultQuotaBytes: integer(env, 'RESULT_QUOTA_BYTES', 5 * 1024 ** 3, 1),
    exportConcurrencyPerEnv: integer(env, 'EXPORT_CONCURRENCY_PER_ENV', 2, 1),
  };
}
