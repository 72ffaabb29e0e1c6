import crypto from 'node:crypto';
import { SignJWT } from 'jose';
import type { Config } from '../config.js';
import type { KeyStore } from './keys.js';
import type { Scope } from './principal.js';
import { formatScope } from './scopes.js';

/** Access tokens live 15 minutes at most (the verifiers cache them until then). */
export const ACCESS_TOKEN_TTL_SECONDS = 900;
/** Authorization codes: RFC 9700 §4.5 asks for a short life; 10 minutes is RFC 6749's maximum. */
export const AUTHORIZATION_CODE_TTL_SECONDS = 300;
/** A refresh token is good for 30 days from its issue; each use rotates it. */
export const REFRESH_TOKEN_TTL_SECONDS = 30 * 24 * 3600;

/** The audience of every access token: the MCP resource (RFC 8707). */
export const resourceUrl = (config: Pick<Config, 'publicUrl'>) => `${config.publicUrl}/v1`;

/** Who and what an access token speaks for; ids and the names shown by get_session_context. */
export interface AccessTokenSubject {
  kind: 'user' | 'service';
  /** users.id, or the service account's client_id. */
  subjectId: string;
  subjectName: string;
  clientId: string;
  clientName: string;
  organizationId: string;
  organization: string;
  environmentId: string;
  environment: string;
  scopes: readonly Scope[];
  grantId: string;
}

/** Claims of our RFC 9068 access tokens, beyond the registered ones. */
export interface AccessTokenClaims {
  client_id: string;
  scope: string;
  org: string;
  env: string;
  org_name: string;
  env_name: string;
  name: string;
  client_name: string;
  grant_id: string;
}

export interface IssuedAccessToken {
  token: string;
  jti: string;
  expiresIn: number;
}

/** Signs an RFC 9068 access token (`typ: at+jwt`, ES256) with the current key. */
export async function signAccessToken(config: Config, keys: KeyStore, subject: AccessTokenSubject): Promise<IssuedAccessToken> {
  const { kid, key } = keys.signingKey();
  const jti = crypto.randomUUID();
  const claims: AccessTokenClaims = {
    client_id: subject.clientId,
    scope: formatScope(subject.scopes),
    org: subject.organizationId,
    env: subject.environmentId,
    org_name: subject.organization,
    env_name: subject.environment,
    name: subject.subjectName,
    client_name: subject.clientName,
    grant_id: subject.grantId,
  };
  const token = await new SignJWT({ ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid })
    .setIssuer(config.issuerUrl)
    .setSubject(`${subject.kind}:${subject.subjectId}`)
    .setAudience(resourceUrl(config))
    .setJti(jti)
    .setIssuedAt()
    .setExpirationTime(`${ACCESS_TOKEN_TTL_SECONDS}s`)
    .sign(key);
  return { token, jti, expiresIn: ACCESS_TOKEN_TTL_SECONDS };
}
