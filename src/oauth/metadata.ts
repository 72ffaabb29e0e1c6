import type { Config } from '../config.js';
import { resourceUrl } from './tokens.js';

/** RFC 9728 metadata of the MCP resource. */
export function protectedResourceMetadata(config: Config) {
  return {
    resource: resourceUrl(config),
    authorization_servers: [config.issuerUrl],
    scopes_supported: ['read', 'write'] as ('read' | 'write')[],
    bearer_methods_supported: ['header'] as 'header'[],
    resource_name: 'lakehouse-mcp',
    resource_documentation: `${config.publicUrl}/docs/api`,
  };
}

/** RFC 8414 metadata; `issuer` is the one exact string used in tokens and `iss` response parameters. */
export function authorizationServerMetadata(config: Config) {
  const base = config.issuerUrl;
  const authMethods = ['client_secret_basic', 'client_secret_post'];
  return {
    issuer: base,
    authorization_endpoint: `${base}/oauth/authorize`,
    token_endpoint: `${base}/oauth/token`,
    jwks_uri: `${base}/oauth/jwks.json`,
    registration_endpoint: `${base}/oauth/register`,
    revocation_endpoint: `${base}/oauth/revoke`,
    introspection_endpoint: `${base}/oauth/introspect`,
    scopes_supported: ['read', 'write'],
    response_types_supported: ['code' as const],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
    code_challenge_methods_supported: ['S256' as const],
    token_endpoint_auth_methods_supported: ['none', ...authMethods],
    revocation_endpoint_auth_methods_supported: ['none', ...authMethods],
    introspection_endpoint_auth_methods_supported: authMethods,
    authorization_response_iss_parameter_supported: true as const,
    client_id_metadata_document_supported: true as const,
    service_documentation: `${config.publicUrl}/docs/api`,
  };
}
