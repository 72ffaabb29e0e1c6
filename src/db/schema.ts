import type { Selectable } from 'kysely';
import type { DB } from '../generated/db.js';

// The database types are generated from the migrations (src/generated/db.ts, `npm run db:types`; the contract
// gate fails when they are stale); what the jsonb columns hold is in json-columns.ts. This module names them
// for the rest of the code.

export type Database = DB;
export type { JsonObject, JsonValue } from './json-columns.js';

export type Role = Selectable<DB['memberships']>['role'];
export type GrantType = Selectable<DB['oauth_clients']>['grant_types'][number];
export type TokenEndpointAuthMethod = Selectable<DB['oauth_clients']>['token_endpoint_auth_method'];
export type OAuthClient = Selectable<DB['oauth_clients']>;
export type Severity = Selectable<DB['notifications']>['severity'];
export type DiscoveryStatus = Selectable<DB['discoveries']>['status'];
