import { DirectoryError } from './errors.js';
import type { Role } from './schema.js';

/** Organization and environment names: also enforced by CHECK constraints in the database. */
export const SLUG_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

export const ROLES: readonly Role[] = ['reader', 'writer', 'admin'];

/** An environment named as `<org>/<env>`. */
export interface EnvironmentRef {
  organization: string;
  environment: string;
}

export function checkSlug(kind: 'organization' | 'environment', name: string): string {
  if (!SLUG_PATTERN.test(name)) {
    throw new DirectoryError(
      'invalid_name',
      `invalid ${kind} name "${name}": use 1-63 lowercase letters, digits and hyphens, starting with a letter or digit`,
    );
  }
  return name;
}

export function parseEnvironmentRef(ref: string): EnvironmentRef {
  const parts = ref.split('/');
  if (parts.length !== 2) {
    throw new DirectoryError(
      'invalid_name',
      `invalid environment "${ref}": write it as <organization>/<environment>, e.g. acme/production`,
    );
  }
  const [organization = '', environment = ''] = parts;
  return { organization: checkSlug('organization', organization), environment: checkSlug('environment', environment) };
}

export function formatEnvironmentRef(ref: EnvironmentRef): string {
  return `${ref.organization}/${ref.environment}`;
}

export function parseRole(role: string): Role {
  const found = ROLES.find((r) => r === role);
  if (!found) throw new DirectoryError('invalid_role', `invalid role "${role}": use one of ${ROLES.join(', ')}`);
  return found;
}

// Deliberately loose (one @, a dot in the domain, no spaces): the real check is the user signing in.
const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function checkEmail(email: string): string {
  if (!EMAIL_PATTERN.test(email) || email.length > 254) {
    throw new DirectoryError('invalid_email', `invalid email address "${email}"`);
  }
  return email;
}
