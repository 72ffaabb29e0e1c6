import crypto from 'node:crypto';
import { AppError } from '../../src/errors.js';
import type { Principal, Scope, TokenVerifier } from '../../src/oauth/principal.js';

/**
 * STAND-IN, to be replaced by real tokens when OAuth lands (src/oauth/): a TokenVerifier over a fixed map
 * of opaque tokens to principals, so that the MCP endpoint can be tested through its real auth path
 * (Authorization header → verifier → Principal) before token issuance exists. Never used by the server.
 */
export class StaticTokenVerifier implements TokenVerifier {
  readonly calls: string[] = [];
  constructor(private readonly tokens: ReadonlyMap<string, Principal>) {}

  verify(token: string): Promise<Principal> {
    this.calls.push(token);
    const principal = this.tokens.get(token);
    if (!principal || principal.expiresAt * 1000 < Date.now()) {
      // Non-ASCII on purpose (“…”): the endpoint must keep such a message out of the WWW-Authenticate header.
      return Promise.reject(new AppError(401, 'invalid_token', 'The access token is invalid or expired … sign in again.'));
    }
    return Promise.resolve(principal);
  }
}

/** A principal of one organization/environment with the given scopes (fresh ids unless given). */
export function testPrincipal(scopes: Scope[], overrides: Partial<Principal> = {}): Principal {
  const id = crypto.randomUUID();
  return {
    subject: `user:${id}`,
    kind: 'user',
    clientId: 'test-client',
    subjectName: 'ada@example.com',
    clientName: 'Test Client',
    organizationId: '00000000-0000-4000-8000-000000000001',
    organization: 'acme',
    environmentId: '00000000-0000-4000-8000-000000000002',
    environment: 'production',
    scopes: new Set(scopes),
    tokenId: crypto.randomUUID(),
    grantId: undefined,
    expiresAt: Math.floor(Date.now() / 1000) + 3600,
    ...overrides,
  };
}
