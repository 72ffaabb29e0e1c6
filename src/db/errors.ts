export type DirectoryErrorCode =
  | 'already_exists'
  | 'not_found'
  | 'invalid_name'
  | 'invalid_email'
  | 'invalid_role'
  | 'weak_password'
  | 'invalid_time_zone'
  | 'invalid_scan_budget';

const STATUS: Record<DirectoryErrorCode, number> = {
  already_exists: 409,
  not_found: 404,
  invalid_name: 400,
  invalid_email: 400,
  invalid_role: 400,
  weak_password: 400,
  invalid_time_zone: 400,
  invalid_scan_budget: 400,
};

/** A refused directory change: a machine `code`, and a message meant for the user that says what to do. */
export class DirectoryError extends Error {
  override name = 'DirectoryError';
  readonly status: number;
  /** Safe to show to the caller (koa's convention). */
  readonly expose = true;

  constructor(
    readonly code: DirectoryErrorCode,
    message: string,
  ) {
    super(message);
    this.status = STATUS[code];
  }
}
