import type { Role } from '../db/schema.js';
import { invalidScope } from './errors.js';
import type { Scope } from './principal.js';

export const ALL_SCOPES: readonly Scope[] = ['read', 'write'];

export const isScope = (value: string): value is Scope => value === 'read' || value === 'write';

/** A space-separated scope parameter; an unknown scope is an invalid_scope error. */
export function parseScope(value: string | undefined): Scope[] | undefined {
  if (value === undefined) return undefined;
  const parts = value.split(' ').filter(Boolean);
  const unknown = parts.filter((p) => !isScope(p));
  if (unknown.length) throw invalidScope(`Unknown scope ${JSON.stringify(unknown[0]?.slice(0, 40))}; this server has "read" and "write".`);
  return sortScopes(parts as Scope[]);
}

/** Deduplicated, in canonical order (read before write). */
export function sortScopes(scopes: Iterable<string>): Scope[] {
  const set = new Set(scopes);
  return ALL_SCOPES.filter((s) => set.has(s));
}

export const formatScope = (scopes: Iterable<string>) => sortScopes(scopes).join(' ');

/** What a role in an environment allows: reader → read; writer and admin → read write. */
export function roleScopes(role: Role): Scope[] {
  return role === 'reader' ? ['read'] : ['read', 'write'];
}

export function intersect(...sets: (readonly string[])[]): Scope[] {
  const [first = [], ...rest] = sets;
  return sortScopes(first.filter((s) => rest.every((other) => other.includes(s))));
}
