import { isLoopbackHost, safeFetch, SafeFetchError } from './safe-fetch.js';
import { MAX_REDIRECT_URIS, redirectUriProblem } from './redirect-uris.js';

// Client ID Metadata Documents (MCP 2025-11-25, draft-ietf-oauth-client-id-metadata-document): a client whose
// client_id is an https URL publishes its metadata there. We fetch it under SSRF rules, check it and cache it.

export class ClientMetadataError extends Error {
  override name = 'ClientMetadataError';
}

export interface ClientMetadataDocument {
  client_id: string;
  client_name: string;
  redirect_uris: string[];
  grant_types: ('authorization_code' | 'refresh_token')[];
  scope: string | undefined;
}

const DEFAULT_MAX_AGE_SECONDS = 300;
const MAX_MAX_AGE_SECONDS = 24 * 3600;
const MAX_CACHED = 1_000;

/** True when `clientId` names a metadata document: an https URL with a path (or, with the flag, http on loopback). */
export function isMetadataDocumentUrl(clientId: string, allowPrivateNetwork: boolean): boolean {
  if (!/^https?:\/\//i.test(clientId)) return false;
  let url: URL;
  try {
    url = new URL(clientId);
  } catch {
    return false;
  }
  if (url.protocol === 'http:' && !(allowPrivateNetwork && isLoopbackHost(url.hostname))) return false;
  return url.pathname !== '/' && url.pathname !== '';
}

function checkUrl(clientId: string): void {
  const url = new URL(clientId);
  if (url.hash || clientId.includes('#')) throw new ClientMetadataError('a client_id URL must not have a fragment');
  if (url.username || url.password) throw new ClientMetadataError('a client_id URL must not contain credentials');
  if (/\/\.\.?(\/|$)/.test(url.pathname) || url.href !== clientId) {
    throw new ClientMetadataError('a client_id URL must be in normal form (no dot segments, lowercase scheme and host)');
  }
}

function maxAge(cacheControl: string | undefined): number {
  if (!cacheControl) return DEFAULT_MAX_AGE_SECONDS;
  if (/\b(no-store|no-cache)\b/i.test(cacheControl)) return 0;
  const match = /\bmax-age\s*=\s*(\d+)/i.exec(cacheControl);
  return match ? Math.min(Number(match[1]), MAX_MAX_AGE_SECONDS) : DEFAULT_MAX_AGE_SECONDS;
}

function validate(clientId: string, doc: unknown): ClientMetadataDocument {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ClientMetadataError('the document is not a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.client_id !== clientId) throw new ClientMetadataError("the document's client_id is not the URL it was fetched from");
  if (d.client_secret !== undefined || d.client_secret_expires_at !== undefined) {
    throw new ClientMetadataError('a metadata document must not carry a client secret');
  }
  const method = d.token_endpoint_auth_method ?? 'none';
  if (method !== 'none')
    throw new ClientMetadataError(
      `token_endpoint_auth_method ${JSON.stringify(method)?.slice(0, 60) ?? ''} is not supported for metadata documents; use "none"`,
    );
  const uris = d.redirect_uris;
  if (!Array.isArray(uris) || uris.length === 0) throw new ClientMetadataError('the document lists no redirect_uris');
  if (uris.length > MAX_REDIRECT_URIS) throw new ClientMetadataError(`the document lists more than ${MAX_REDIRECT_URIS} redirect_uris`);
  for (const uri of uris) {
    const problem = redirectUriProblem(uri);
    if (problem) throw new ClientMetadataError(`redirect URI ${JSON.stringify(uri).slice(0, 100)} ${problem}`);
  }
  const grants = d.grant_types ?? ['authorization_code'];
  if (
    !Array.isArray(grants) ||
    !grants.every((g) => g === 'authorization_code' || g === 'refresh_token') ||
    !grants.includes('authorization_code')
  ) {
    throw new ClientMetadataError('grant_types must be authorization_code, optionally with refresh_token');
  }
  const responseTypes = d.response_types ?? ['code'];
  if (!Array.isArray(responseTypes) || responseTypes.some((t) => t !== 'code'))
    throw new ClientMetadataError('response_types must be ["code"]');
  const name = typeof d.client_name === 'string' && d.client_name.trim() ? d.client_name.trim().slice(0, 200) : new URL(clientId).host;
  const scope = typeof d.scope === 'string' ? d.scope : undefined;
  return {
    client_id: clientId,
    client_name: name,
    redirect_uris: uris as string[],
    grant_types: [...new Set(grants as ('authorization_code' | 'refresh_token')[])],
    scope,
  };
}

/** Fetches, validates and caches metadata documents (Cache-Control max-age, bounded; default 5 minutes). */
export class ClientMetadataDocuments {
  private readonly cache = new Map<string, { doc: ClientMetadataDocument; expiresAt: number }>();

  constructor(private readonly options: { allowPrivateNetwork: boolean; timeoutMs?: number; maxBytes?: number }) {}

  async get(clientId: string): Promise<ClientMetadataDocument> {
    const cached = this.cache.get(clientId);
    if (cached && cached.expiresAt > Date.now()) return cached.doc;
    checkUrl(clientId);
    let response;
    try {
      response = await safeFetch(clientId, {
        allowPrivateNetwork: this.options.allowPrivateNetwork,
        ...(this.options.timeoutMs ? { timeoutMs: this.options.timeoutMs } : {}),
        ...(this.options.maxBytes ? { maxBytes: this.options.maxBytes } : {}),
      });
    } catch (error) {
      if (error instanceof SafeFetchError) throw new ClientMetadataError(`cannot fetch the client metadata document: ${error.message}`);
      throw error;
    }
    if (response.status >= 300 && response.status < 400)
      throw new ClientMetadataError('the client metadata document URL redirects; redirects are not followed');
    if (response.status !== 200) throw new ClientMetadataError(`the client metadata document URL answered HTTP ${response.status}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(response.body.toString('utf8'));
    } catch {
      throw new ClientMetadataError('the client metadata document is not JSON');
    }
    const doc = validate(clientId, parsed);
    const seconds = maxAge(response.headers['cache-control']);
    if (seconds > 0) {
      if (this.cache.size >= MAX_CACHED) {
        const oldest = this.cache.keys().next();
        if (!oldest.done) this.cache.delete(oldest.value);
      }
      this.cache.set(clientId, { doc, expiresAt: Date.now() + seconds * 1000 });
    }
    return doc;
  }
}
