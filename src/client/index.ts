/**
 * `lakehouse-mcp/client`: a typed REST client for partners, generated from the published contract.
 * Types come from openapi-typescript (src/generated/openapi.ts), requests go through openapi-fetch, so a
 * path, parameter or body that the contract does not declare is a compile error in the partner's code.
 *
 *   import { createLakehouseClient } from 'lakehouse-mcp/client';
 *   const api = createLakehouseClient('https://lakehouse.example.com', { token: process.env.LAKEHOUSE_TOKEN });
 *   const { data, error } = await api.POST('/api/v1/docs/search', { body: { query: 'semantic model' } });
 */
import createClient, { type Client, type ClientOptions, type Middleware } from 'openapi-fetch';
import type { components, operations, paths } from '../generated/openapi.js';

export type { components, operations, paths };
export type { Client, Middleware } from 'openapi-fetch';

/** A schema of the contract by name, e.g. `Schema<'Problem'>` or `Schema<'SearchDocsOutput'>`. */
export type Schema<Name extends keyof components['schemas']> = components['schemas'][Name];
/** The error body of every REST route (RFC 9457, with a stable `code`). */
export type Problem = Schema<'Problem'>;

export interface LakehouseClientOptions extends Omit<ClientOptions, 'baseUrl'> {
  /**
   * An OAuth access token (bearer) for the `/api/v1/` routes, or a function returning one (called for every
   * request, so it can refresh). The published contract, metadata and health routes need none.
   */
  token?: string | (() => string | Promise<string>);
}

export type LakehouseClient = Client<paths>;

/** A client for the server at `baseUrl` (its PUBLIC_URL, e.g. `http://localhost:3000`). */
export function createLakehouseClient(baseUrl: string, options: LakehouseClientOptions = {}): LakehouseClient {
  const { token, ...rest } = options;
  const client = createClient<paths>({ ...rest, baseUrl: baseUrl.replace(/\/+$/, '') });
  if (token !== undefined) {
    const bearer: Middleware = {
      async onRequest({ request }) {
        const value = typeof token === 'function' ? await token() : token;
        if (value && !request.headers.has('authorization')) request.headers.set('authorization', `Bearer ${value}`);
        return request;
      },
    };
    client.use(bearer);
  }
  return client;
}
