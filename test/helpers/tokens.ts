import { createEnvironment, createOrganization } from '../../src/db/directory.js';
import { createServiceAccount } from '../../src/oauth/admin.js';
import type { Scope } from '../../src/oauth/principal.js';
import type { TestApp } from './app.js';

/**
 * A real access token for a service account of `org/env` (created with the organization and environment
 * when they do not exist yet), obtained through the token endpoint with client_credentials.
 */
export async function serviceToken(app: TestApp, ref: string, scopes: Scope[]): Promise<string> {
  const [organization = '', environment = ''] = ref.split('/');
  const { db } = app.database;
  if (!(await db.selectFrom('organizations').select('id').where('name', '=', organization).executeTakeFirst())) {
    await createOrganization(db, organization);
  }
  const org = await db.selectFrom('organizations').select('id').where('name', '=', organization).executeTakeFirstOrThrow();
  if (
    !(await db
      .selectFrom('environments')
      .select('id')
      .where('organization_id', '=', org.id)
      .where('name', '=', environment)
      .executeTakeFirst())
  ) {
    await createEnvironment(db, { organization, environment });
  }
  const account = await createServiceAccount(db, { organization, environment }, `tests ${scopes.join('+')}`, scopes);
  const metadata = (await (await fetch(`${app.server.config.issuerUrl}/.well-known/oauth-authorization-server`)).json()) as {
    token_endpoint: string;
  };
  const response = await fetch(metadata.token_endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${account.client_id}:${account.client_secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  });
  const body = (await response.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`client_credentials failed: ${JSON.stringify(body)}`);
  return body.access_token;
}
