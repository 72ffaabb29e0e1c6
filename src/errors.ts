/**
 * Errors with a stable machine-readable `code` and an HTTP status (after node-oidc-provider and jose).
 * Their message reaches the caller only when the status is below 500; a 5xx says nothing about internals.
 */
export interface Violation {
  /** `body`, `query` or `path`, then a JSON pointer, e.g. `query/limit`. */
  location: string;
  message: string;
}

export class AppError extends Error {
  readonly expose: boolean;
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly violations?: Violation[],
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'AppError';
    this.expose = status < 500;
  }
}

export const badRequest = (code: string, message: string) => new AppError(400, code, message);

export const validationFailed = (violations: Violation[]) =>
  new AppError(
    400,
    'validation_failed',
    `The request does not match its schema (${violations.length} problem${violations.length === 1 ? '' : 's'}): ${violations
      .map((v) => `${v.location} ${v.message}`)
      .join('; ')}`,
    violations,
  );

export const notFound = (message: string) => new AppError(404, 'not_found', message);

export const unavailable = (message: string) => new AppError(503, 'unavailable', message);

export const internalError = () => new AppError(500, 'internal_error', 'Internal server error');
