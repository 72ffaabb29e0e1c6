import crypto from 'node:crypto';
import type { Context } from 'koa';
import type { Kysely } from 'kysely';
import type { Database, GrantType, OAuthClient, TokenEndpointAuthMethod } from '../db/schema.js';
import { ClientMetadataDocuments, ClientMetadataError, isMetadataDocumentUrl } from './client-metadata.js';
import { randomToken, sha256 } from './crypto.js';
import { invalidClient, invalidRequest, OAuthError } from './errors.js';
import { MAX_REDIRECT_URIS, redirectUriProblem } from './redirect-uris.js';
import type { RegistrationLimit } from './registration-limit.js';
import { parseScope } from './scopes.js';

/** A client as the endpoints see it: registered (DCR, service account) or described by a metadata document. */
export interface Client {
  id: string;
  name: string;
  redirectUris: string[];
  grantTypes: GrantType[];
  authMethod: TokenEndpointAuthMethod;
  secretHash: Buffer | null;
  scope: string | null;
  metadataDocument: boolean;
}

const fromRow = (row: OAuthClient): Client => ({
  id: row.id,
  name: row.name,
  redirectUris: row.redirect_uris,
  grantTypes: row.grant_types,
  authMethod: row.token_endpoint_auth_method,
  secretHash: row.secret_hash,
  scope: row.scope,
  metadataDocument: row.metadata_document,
});

const AUTH_METHODS: readonly TokenEndpointAuthMethod[] = ['none', 'client_secret_basic', 'client_secret_post'];

/** RFC 7591 §3.2.2 error. */
const badMetadata = (description: string) => new OAuthError('invalid_client_metadata', description);
const badRedirect = (description: string) => new OAuthError('invalid_redirect_uri', description);

export interface RegistrationResponse {
  client_id: string;
  client_secret?: string;
  client_id_issued_at: number;
  client_secret_expires_at?: 0;
  client_name: string;
  redirect_uris: string[];
  grant_types: ('authorization_code' | 'refresh_token')[];
  response_types: ['code'];
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  scope?: string;
}

/**
 * Validates RFC 7591 client metadata. `client_id` and other server-assigned members in the request are ignored;
 * client_credentials is not registrable (service accounts are made with `admin service-account create`).
 */
export function checkRegistration(body: unknown) {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw badMetadata('The body must be a JSON object of client metadata.');
  const m = body as Record<string, unknown>;
  const uris = m.redirect_uris;
  if (!Array.isArray(uris) || uris.length === 0) throw badRedirect('redirect_uris must be a non-empty array of URLs.');
  if (uris.length > MAX_REDIRECT_URIS) throw badRedirect(`At most ${MAX_REDIRECT_URIS} redirect_uris may be registered.`);
  for (const uri of uris) {
    const problem = redirectUriProblem(uri);
    if (problem) throw badRedirect(`The redirect URI ${JSON.stringify(uri).slice(0, 120)} ${problem}.`);
  }
  const requestedMethod = m.token_endpoint_auth_method ?? 'none';
  const method = AUTH_METHODS.find((known) => known === requestedMethod);
  if (!method) throw badMetadata('token_endpoint_auth_method must be none, client_secret_basic or client_secret_post.');
  const grantTypes = m.grant_types ?? ['authorization_code', 'refresh_token'];
  if (!Array.isArray(grantTypes) || grantTypes.length === 0 || grantTypes.some((g) => typeof g !== 'string')) {
    throw badMetadata('grant_types must be a non-empty array of strings.');
  }
  for (const g of grantTypes as string[]) {
    if (g === 'client_credentials') {
      throw badMetadata('client_credentials is for service accounts, which an administrator creates with `admin service-account create`.');
    }
    if (g !== 'authorization_code' && g !== 'refresh_token')
      throw badMetadata(`The grant type ${JSON.stringify(g).slice(0, 60)} is not supported.`);
  }
  if (!grantTypes.includes('authorization_code')) throw badMetadata('grant_types must include authorization_code.');
  const responseTypes = m.response_types ?? ['code'];
  if (!Array.isArray(responseTypes) || responseTypes.length !== 1 || responseTypes[0] !== 'code') {
    throw badMetadata('response_types must be ["code"], the response type of the authorization_code grant.');
  }
  if (m.client_name !== undefined && (typeof m.client_name !== 'string' || m.client_name.trim() === '')) {
    throw badMetadata('client_name must be a non-empty string.');
  }
  if (m.scope !== undefined && typeof m.scope !== 'string') throw badMetadata('scope must be a space-separated string.');
  let scope: string | undefined;
  try {
    scope = m.scope === undefined ? undefined : parseScope(m.scope)?.join(' ');
  } catch (error) {
    throw badMetadata((error as Error).message);
  }
  const name = typeof m.client_name === 'string' ? m.client_name.trim().slice(0, 200) : 'Unnamed client';
  return {
    redirectUris: [...new Set(uris as string[])],
    method,
    grantTypes: [...new Set(grantTypes as ('authorization_code' | 'refresh_token')[])],
    name,
    scope: scope || undefined,
  };
}

/** Registers a client; `limit`, when given, counts it in the same transaction (and may refuse it). */
export async function registerClient(
  db: Kysely<Database>,
  body: unknown,
  limit?: Pick<RegistrationLimit, 'count'>,
): Promise<RegistrationResponse> {
  const checked = checkRegistration(body);
  const id = randomToken(16);
  const secret = checked.method === 'none' ? undefined : randomToken(32);
  const row = await db.transaction().execute(async (trx) => {
    await limit?.count(trx);
    return trx
      .insertInto('oauth_clients')
      .values({
        id,
        name: checked.name,
        redirect_uris: checked.redirectUris,
        grant_types: checked.grantTypes,
        token_endpoint_auth_method: checked.method,
        secret_hash: secret === undefined ? null : sha256(secret),
        scope: checked.scope ?? null,
      })
      .returning(['created_at'])
      .executeTakeFirstOrThrow();
  });
  return {
    client_id: id,
    ...(secret === undefined ? {} : { client_secret: secret, client_secret_expires_at: 0 as const }),
    client_id_issued_at: Math.floor(row.created_at.getTime() / 1000),
    client_name: checked.name,
    redirect_uris: checked.redirectUris,
    grant_types: checked.grantTypes,
    response_types: ['code'],
    token_endpoint_auth_method: checked.method,
    ...(checked.scope ? { scope: checked.scope } : {}),
  };
}

/** How long a registered client's record may be served from a process's cache (`find(id, { cached: true })`). */
export const CLIENT_CACHE_TTL_MS = 60_000;
const CLIENT_CACHE_MAX_ENTRIES = 10_000;

/** Finds clients: registered ones in the database, metadata documents by fetching them (and recording them). */
export class ClientRegistry {
  readonly documents: ClientMetadataDocuments;
  private readonly cache = new Map<string, { client: Client; until: number }>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly allowPrivateNetwork: boolean,
  ) {
    this.documents = new ClientMetadataDocuments({ allowPrivateNetwork });
  }

  isDocumentUrl(clientId: string): boolean {
    return isMetadataDocumentUrl(clientId, this.allowPrivateNetwork);
  }

  /**
   * The client, or undefined when unknown. A metadata document that cannot be used throws ClientMetadataError.
   * Always read from the database (or the document); a registered client's record is also kept for `cached`.
   */
  async find(clientId: string): Promise<Client | undefined> {
    if (clientId.length === 0 || clientId.length > 2048) return undefined;
    if (this.isDocumentUrl(clientId)) {
      const doc = await this.documents.get(clientId);
      // Recorded so that grants and codes can reference it; refreshed from the document on every fetch.
      const row = await this.db
        .insertInto('oauth_clients')
        .values({
          id: clientId,
          name: doc.client_name,
          redirect_uris: doc.redirect_uris,
          grant_types: doc.grant_types,
          token_endpoint_auth_method: 'none',
          secret_hash: null,
          scope: doc.scope ?? null,
          metadata_document: true,
        })
        .onConflict((oc) =>
          oc
            .column('id')
            .doUpdateSet({
              name: doc.client_name,
              redirect_uris: doc.redirect_uris,
              grant_types: doc.grant_types,
              scope: doc.scope ?? null,
            })
            .where('oauth_clients.metadata_document', '=', true),
        )
        .returningAll()
        .executeTakeFirst();
      return row ? fromRow(row) : undefined;
    }
    const row = await this.db.selectFrom('oauth_clients').selectAll().where('id', '=', clientId).executeTakeFirst();
    if (!row) return undefined;
    const client = fromRow(row);
    // Every lookup refreshes the cache; unknown ids are never cached (a client registered a moment ago works at once).
    if (this.cache.size >= CLIENT_CACHE_MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(clientId, { client, until: Date.now() + CLIENT_CACHE_TTL_MS });
    return client;
  }

  /** A registered client's record as `find` last read it, at most CLIENT_CACHE_TTL_MS ago. */
  private cached(clientId: string): Client | undefined {
    const entry = this.cache.get(clientId);
    if (entry && entry.until > Date.now()) return entry.client;
    if (entry) this.cache.delete(clientId);
    return undefined;
  }

  /** Drops a client's cached record. */
  forget(clientId: string): void {
    this.cache.delete(clientId);
  }

  /**
   * Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3): HTTP Basic or
   * client_secret in the body for confidential clients (one method, not both), client_id alone for public ones.
   * Answers the client and whether it proved a secret.
   *
   * `cached`: the client's record may come from this process's cache (up to CLIENT_CACHE_TTL_MS old), for a
   * caller whose own statement checks that the record is still current (the refresh grant). A refusal is
   * never answered from the cache: the record is read again first.
   */
  async authenticate(
    ctx: Context,
    form: Record<string, string>,
    options: { cached?: boolean } = {},
  ): Promise<{ client: Client; authenticated: boolean }> {
    const header = ctx.get('authorization');
    let clientId: string | undefined;
    let secret: string | undefined;
    let basic = false;
    if (header) {
      const match = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header);
      if (!match?.[1]) throw invalidClient('The Authorization header is not HTTP Basic client authentication.', true);
      const decoded = Buffer.from(match[1], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) throw invalidClient('HTTP Basic credentials must be client_id:client_secret.', true);
      try {
        // RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
        clientId = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
        secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
      } catch {
        throw invalidClient('HTTP Basic credentials are not form-urlencoded.', true);
      }
      basic = true;
      if (form.client_secret !== undefined)
        throw invalidRequest('Use one client authentication method: HTTP Basic or client_secret, not both.');
      if (form.client_id !== undefined && form.client_id !== clientId)
        throw invalidRequest('client_id differs from the HTTP Basic user name.');
    } else {
      clientId = form.client_id;
      secret = form.client_secret;
    }
    if (!clientId) throw invalidClient('Identify the client: client_id, or HTTP Basic authentication.');
    const cached = options.cached ? this.cached(clientId) : undefined;
    if (cached) {
      try {
        return checkSecret(cached, secret, basic);
      } catch (error) {
        if (!(error instanceof OAuthError)) throw error;
        this.forget(clientId);
      }
    }
    let client: Client | undefined;
    try {
      client = await this.find(clientId);
    } catch (error) {
      if (error instanceof ClientMetadataError) throw invalidClient(`The client metadata document cannot be used: ${error.message}.`);
      throw error;
    }
    if (!client) throw invalidClient('Unknown client.', basic);
    return checkSecret(client, secret, basic);
  }
}

/** The client's secret check: none for a public client, the right one for a confidential client. */
function checkSecret(client: Client, secret: string | undefined, basic: boolean): { client: Client; authenticated: boolean } {
  if (client.secretHash === null) {
    if (secret !== undefined) throw invalidClient('This client is public: it has no secret to send.', basic);
    return { client, authenticated: false };
  }
  if (secret === undefined) throw invalidClient('This client is confidential: authenticate with its client_secret.', basic);
  if (!crypto.timingSafeEqual(sha256(secret), client.secretHash)) throw invalidClient('The client secret is wrong.', basic);
  return { client, authenticated: true };
}
