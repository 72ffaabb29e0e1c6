import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { Principal, Scope, TokenVerifier } from './principal.js';
import { formatScope } from './scopes.js';

// The WWW-Authenticate challenges of the protected resource (RFC 6750 §3, RFC 9728 §5.1), built in one place so
// that /v1 and the REST routes answer alike. Clients find the authorization server through resource_metadata.

/** The RFC 9728 metadata URL of a resource path on PUBLIC_URL (`/v1` → `/.well-known/oauth-protected-resource/v1`). */
export function resourceMetadataUrl(config: Pick<Config, 'publicUrl'>, resourcePath = '/v1'): string {
  return `${config.publicUrl}/.well-known/oauth-protected-resource${resourcePath}`;
}

export interface ChallengeParams {
  error?: 'invalid_token' | 'invalid_request' | 'insufficient_scope';
  error_description?: string;
  scope?: string;
}

/** `Bearer resource_metadata="…", scope="…"[, error="…", error_description="…"]`, quoted-string safe. */
export function bearerChallenge(metadataUrl: string, params: ChallengeParams = {}): string {
  const entries: [string, string | undefined][] = [
    ['resource_metadata', metadataUrl],
    ['scope', params.scope ?? 'read write'],
    ['error', params.error],
    ['error_description', params.error_description],
  ];
  return (
    'Bearer ' +
    entries
      .filter((e): e is [string, string] => e[1] !== undefined)
      // RFC 6750 §3: error_description uses %x20-21 / %x23-5B / %x5D-7E only.
      .map(([k, v]) => `${k}="${v.replace(/[^\x20-\x7e]|["\\]/g, '')}"`)
      .join(', ')
  );
}

/** 401 for a request without a token: the challenge names where to get one. */
export function missingToken(config: Pick<Config, 'publicUrl'>, resourcePath = '/v1'): AppError {
  return new AppError('unauthorized', 'This request needs an OAuth access token (Authorization: Bearer …).', {
    headers: {
      'WWW-Authenticate': bearerChallenge(resourceMetadataUrl(config, resourcePath)),
    },
  });
}

/** 401 for a token that was sent but is malformed, forged, expired or revoked. */
export function invalidToken(config: Pick<Config, 'publicUrl'>, description: string, resourcePath = '/v1'): AppError {
  return new AppError('invalid_token', description, {
    headers: {
      'WWW-Authenticate': bearerChallenge(resourceMetadataUrl(config, resourcePath), {
        error: 'invalid_token',
        error_description: description,
      }),
    },
  });
}

/**
 * 403 insufficient_scope. The challenge's scope asks for what the call needs plus what the token has, so a
 * client that re-authorizes (step-up) loses nothing.
 */
export function insufficientScope(
  config: Pick<Config, 'publicUrl'>,
  needed: Scope,
  granted: ReadonlySet<Scope>,
  what = 'This call',
  resourcePath = '/v1',
): AppError {
  const description = `${what} needs the "${needed}" scope, which this token was not granted.`;
  return new AppError('insufficient_scope', description, {
    headers: {
      'WWW-Authenticate': bearerChallenge(resourceMetadataUrl(config, resourcePath), {
        error: 'insufficient_scope',
        error_description: description,
        scope: formatScope([...granted, needed]),
      }),
    },
  });
}

/** The scope gate: throws the 403 above unless the principal holds `needed`. */
export function requireScope(
  config: Pick<Config, 'publicUrl'>,
  principal: Principal,
  needed: Scope,
  what?: string,
  resourcePath?: string,
): void {
  if (!principal.scopes.has(needed)) throw insufficientScope(config, needed, principal.scopes, what, resourcePath);
}

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * The principal of a request's Authorization header: 401 without a token (no `error`), 401 invalid_token for
 * a malformed or refused one. For REST routes and any other bearer-protected path.
 */
export async function authenticateBearer(
  verifier: TokenVerifier,
  config: Pick<Config, 'publicUrl'>,
  authorization: string | undefined,
  resourcePath = '/v1',
): Promise<Principal> {
  if (!authorization) throw missingToken(config, resourcePath);
  const match = BEARER.exec(authorization);
  if (!match?.[1]) throw invalidToken(config, 'The Authorization header is not a bearer token.', resourcePath);
  return verifier.verify(match[1]);
}
