export type Scope = 'read' | 'write';

/** Who a verified access token speaks for: one user or service account, through one client, in one environment. */
export interface Principal {
  /** `user:<uuid>` or `service:<uuid>`: prefixes keep users and service accounts from ever colliding. */
  subject: string;
  kind: 'user' | 'service';
  clientId: string;
  /** Display names of the user (email) or service account, and of the client. */
  subjectName: string;
  clientName: string;
  organizationId: string;
  organization: string;
  environmentId: string;
  environment: string;
  scopes: ReadonlySet<Scope>;
  /** The token's `jti`, and the grant it belongs to (for revocation). */
  tokenId: string;
  grantId: string | undefined;
  /** Seconds since the epoch. */
  expiresAt: number;
}

/**
 * Verifies a bearer token and answers its principal; throws an AppError with status 401 (and a
 * `WWW-Authenticate` header) when the token is missing, malformed, forged, expired or revoked.
 */
export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
}
