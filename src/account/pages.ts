import type { ServiceAccountInfo } from '../oauth/admin.js';
import type { ConnectedApp } from '../oauth/connected-apps.js';
import { credentialFields, errorBox, escapeHtml, layout } from '../oauth/pages.js';

// The account pages: plain server-rendered HTML like the sign-in pages (no script), every dynamic value escaped.

export function accountSignInPage(f: { action: string; csrf: string; next: string; email?: string; error?: string }): string {
  return layout(
    'Sign in',
    `<h1>Sign in</h1>
<p>Sign in to see and revoke the apps connected to your lakehouse-mcp account.</p>
${errorBox(f.error)}
<form method="post" action="${escapeHtml(f.action)}">
<input type="hidden" name="csrf_token" value="${escapeHtml(f.csrf)}">
<input type="hidden" name="next" value="${escapeHtml(f.next)}">
${credentialFields(f.email)}
</form>`,
  );
}

export function signedOutPage(signInUrl: string): string {
  return layout(
    'Signed out',
    `<h1>Signed out</h1>\n<p>You are signed out of this browser.</p>\n<p><a href="${escapeHtml(signInUrl)}">Sign in again</a></p>`,
  );
}

const date = (iso: string) => escapeHtml(iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'));

interface RevokeButton {
  action: string;
  csrf: string;
}

function revokeForm(b: RevokeButton, fields: { client_id: string; environment: string; target: string }, label: string): string {
  return `<form method="post" action="${escapeHtml(b.action)}">
<input type="hidden" name="csrf_token" value="${escapeHtml(b.csrf)}">
<input type="hidden" name="client_id" value="${escapeHtml(fields.client_id)}">
<input type="hidden" name="environment" value="${escapeHtml(fields.environment)}">
<input type="hidden" name="target" value="${escapeHtml(fields.target)}">
<button type="submit" class="secondary" aria-label="${escapeHtml(label)}">Revoke</button>
</form>`;
}

function appRows(apps: ConnectedApp[], b: RevokeButton, target: 'own' | 'environment', withUser: boolean): string {
  return apps
    .map((a) => {
      const environment = `${a.organization}/${a.environment}`;
      return `<tr data-client-id="${escapeHtml(a.client_id)}">
<td><strong>${escapeHtml(a.name)}</strong><br><span class="muted">${escapeHtml(a.redirect_hosts.join(', '))}</span></td>
${withUser ? `<td>${escapeHtml(a.user)}</td>` : `<td>${escapeHtml(environment)}</td>`}
<td>${escapeHtml(a.scopes.join(' '))}</td>
<td>${date(a.authorized_at)}</td>
<td>${date(a.last_used_at)}</td>
<td>${revokeForm(b, { client_id: a.client_id, environment, target }, `Revoke ${a.name}${withUser ? ` for ${a.user}` : ''} in ${environment}`)}</td>
</tr>`;
    })
    .join('\n');
}

export interface AdminEnvironment {
  environment: string;
  apps: ConnectedApp[];
  serviceAccounts: ServiceAccountInfo[];
}

export function connectedAppsPage(f: {
  email: string;
  apps: ConnectedApp[];
  admin: AdminEnvironment[];
  revoke: RevokeButton;
  signOut: RevokeButton;
  notice?: string;
}): string {
  const own = f.apps.length
    ? `<table id="my-apps">
<thead><tr><th>App</th><th>Environment</th><th>Scopes</th><th>Authorized</th><th>Last used</th><th></th></tr></thead>
<tbody>
${appRows(f.apps, f.revoke, 'own', false)}
</tbody>
</table>`
    : '<p class="muted" id="my-apps">You have not authorized any app (or every authorization has ended).</p>';
  const admin = f.admin
    .map((env) => {
      const apps = env.apps.length
        ? `<table>
<thead><tr><th>App</th><th>User</th><th>Scopes</th><th>Authorized</th><th>Last used</th><th></th></tr></thead>
<tbody>
${appRows(env.apps, f.revoke, 'environment', true)}
</tbody>
</table>`
        : '<p class="muted">No app is authorized here.</p>';
      const accounts = env.serviceAccounts.length
        ? `<table>
<thead><tr><th>Service account</th><th>Client id</th><th>Scopes</th><th>Created</th><th></th></tr></thead>
<tbody>
${env.serviceAccounts
  .map(
    (s) => `<tr data-client-id="${escapeHtml(s.client_id)}">
<td><strong>${escapeHtml(s.name)}</strong></td>
<td><code>${escapeHtml(s.client_id)}</code></td>
<td>${escapeHtml(s.scopes.join(' '))}</td>
<td>${date(s.created_at)}</td>
<td>${revokeForm(f.revoke, { client_id: s.client_id, environment: env.environment, target: 'service_account' }, `Revoke service account ${s.name} in ${env.environment}`)}</td>
</tr>`,
  )
  .join('\n')}
</tbody>
</table>`
        : '<p class="muted">No service account is active here.</p>';
      return `<section data-environment="${escapeHtml(env.environment)}">
<h2>${escapeHtml(env.environment)} <span class="muted">(you are an admin)</span></h2>
<h3>Apps of every member</h3>
${apps}
<h3>Service accounts</h3>
${accounts}
</section>`;
    })
    .join('\n');
  return layout(
    'Connected apps',
    `<h1>Connected apps</h1>
<p class="muted">Signed in as ${escapeHtml(f.email)}.</p>
${f.notice ? `<p class="notice" role="status">${escapeHtml(f.notice)}</p>` : ''}
<h2>Your apps</h2>
${own}
${admin}
<form method="post" action="${escapeHtml(f.signOut.action)}">
<input type="hidden" name="csrf_token" value="${escapeHtml(f.signOut.csrf)}">
<button type="submit" class="secondary">Sign out</button>
</form>`,
    true,
  );
}
