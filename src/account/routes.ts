import crypto from 'node:crypto';
import type { Context } from 'koa';
import { DirectoryError } from '../db/errors.js';
import { parseEnvironmentRef } from '../db/names.js';
import validators from '../generated/validators.cjs';
import type { KoaOperationHandler } from '../operations/context.js';
import { findEnvironment, listServiceAccounts, revokeServiceAccount } from '../oauth/admin.js';
import type { BrowserSession } from '../oauth/browser-session.js';
import { listEnvironmentApps, listUserApps, revokeApp } from '../oauth/connected-apps.js';
import { safeEqual } from '../oauth/crypto.js';
import { OAuthError } from '../oauth/errors.js';
import { readForm } from '../oauth/form.js';
import { sendHtmlPage } from '../oauth/html-response.js';
import type { OAuthServer } from '../oauth/oauth-server.js';
import { errorPage } from '../oauth/pages.js';
import { accountSignInPage, connectedAppsPage, signedOutPage, type AdminEnvironment } from './pages.js';
import { localPath, requireSession } from './require-session.js';

// The account pages (x-handler: koa in specs/openapi.yaml): sign-in, sign-out and the connected apps. Every
// form carries a CSRF token: before sign-in an HMAC of the browser's nonce cookie (login CSRF), after it an
// HMAC of the session id and the form's purpose. A refused form gets a page that says what to do; nothing changes.

const ACCOUNT_HINT = 'Open your account page again and retry.';

/** An answer as a page (403: CSRF or session; 400: a malformed form). */
class PageRefusal extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
  ) {
    super(message);
  }
}

function signInCsrf(oauth: OAuthServer, nonce: string): string {
  return crypto.createHmac('sha256', oauth.deriveKey('account-sign-in-csrf')).update(`account-sign-in\n${nonce}`).digest('base64url');
}

/** Reads a form and checks it against its schema; the CSRF token's absence is a 403 of its own. */
async function accountForm(ctx: Context, validator: keyof typeof validators): Promise<Record<string, string>> {
  let form: Record<string, string>;
  try {
    form = await readForm(ctx);
  } catch (error) {
    if (error instanceof OAuthError) throw new PageRefusal(error.status === 415 ? 415 : 400, 'Invalid request', error.description);
    const status = (error as { status?: unknown }).status;
    if (status === 413) throw new PageRefusal(413, 'Invalid request', 'The form is too large.');
    throw error;
  }
  if (!form.csrf_token) throw new PageRefusal(403, 'Request refused', `The form has no CSRF token. ${ACCOUNT_HINT}`);
  if (!validators[validator](form)) throw new PageRefusal(400, 'Invalid request', 'The form does not have the expected fields.');
  return form;
}

/** Runs a handler; a refusal becomes its page. */
function pageHandler(work: (ctx: Context, oauth: OAuthServer) => Promise<void>): KoaOperationHandler {
  return async (ctx, { oauth }) => {
    try {
      await work(ctx, oauth);
    } catch (error) {
      if (error instanceof PageRefusal) return sendHtmlPage(ctx, error.status, errorPage(error.title, error.message, ACCOUNT_HINT));
      throw error;
    }
  };
}

function seeOther(ctx: Context, url: string): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.status = 303;
  ctx.redirect(url);
}

const showAccountSignIn = pageHandler(async (ctx, oauth) => {
  const next = localPath(typeof ctx.query.next === 'string' ? ctx.query.next : undefined, `${oauth.issuerPath}/account/apps`);
  if (await oauth.sessions.current(ctx)) return seeOther(ctx, new URL(next, oauth.config.issuerUrl).href);
  const csrf = signInCsrf(oauth, oauth.authorization.ensureNonce(ctx));
  sendHtmlPage(ctx, 200, accountSignInPage({ action: `${oauth.config.issuerUrl}/account/sign-in`, csrf, next }));
});

const submitAccountSignIn = pageHandler(async (ctx, oauth) => {
  const form = await accountForm(ctx, 'op_submitAccountSignIn_body_application_x_www_form_urlencoded');
  const nonce = oauth.authorization.browserNonce(ctx);
  if (!nonce || !safeEqual(form.csrf_token ?? '', signInCsrf(oauth, nonce))) {
    throw new PageRefusal(403, 'Request refused', "The form's CSRF token does not match this browser. Open the sign-in page again.");
  }
  const next = localPath(form.next, `${oauth.issuerPath}/account/apps`);
  const outcome = await oauth.signIns.check(form.email, form.password);
  if (!outcome.ok) {
    if (outcome.retryAfter !== undefined) ctx.set('Retry-After', String(outcome.retryAfter));
    const page = accountSignInPage({
      action: `${oauth.config.issuerUrl}/account/sign-in`,
      csrf: signInCsrf(oauth, nonce),
      next,
      email: (form.email ?? '').trim(),
      error: outcome.error,
    });
    return sendHtmlPage(ctx, outcome.status, page);
  }
  await oauth.sessions.start(ctx, outcome.user);
  seeOther(ctx, new URL(next, oauth.config.issuerUrl).href);
});

/** The session of a signed-in form, with its CSRF token checked. */
async function formSession(ctx: Context, oauth: OAuthServer, form: Record<string, string>, purpose: 'sign-out' | 'revoke') {
  const session = await oauth.sessions.current(ctx);
  if (!session) throw new PageRefusal(403, 'Signed out', 'Your session has ended. Sign in again, then retry.');
  if (!oauth.sessions.checkCsrf(session, purpose, form.csrf_token)) {
    throw new PageRefusal(403, 'Request refused', `The form's CSRF token does not match this session. ${ACCOUNT_HINT}`);
  }
  return session;
}

const signOut = pageHandler(async (ctx, oauth) => {
  const form = await accountForm(ctx, 'op_signOut_body_application_x_www_form_urlencoded');
  const session = await formSession(ctx, oauth, form, 'sign-out');
  await oauth.sessions.end(ctx, session);
  sendHtmlPage(ctx, 200, signedOutPage(`${oauth.config.issuerUrl}/account/sign-in`));
});

/** The environments where the user is an admin, with their apps and active service accounts. */
async function adminEnvironments(oauth: OAuthServer, session: BrowserSession): Promise<AdminEnvironment[]> {
  const rows = await oauth.db
    .selectFrom('memberships as m')
    .innerJoin('environments as e', 'e.id', 'm.environment_id')
    .innerJoin('organizations as o', 'o.id', 'e.organization_id')
    .select(['e.id', 'e.name as environment', 'o.name as organization'])
    .where('m.user_id', '=', session.userId)
    .where('m.role', '=', 'admin')
    .orderBy('o.name')
    .orderBy('e.name')
    .execute();
  return Promise.all(
    rows.map(async (r) => ({
      environment: `${r.organization}/${r.environment}`,
      apps: await listEnvironmentApps(oauth.db, r.id),
      serviceAccounts: (await listServiceAccounts(oauth.db, { organization: r.organization, environment: r.environment })).filter(
        (s) => s.revoked_at === null,
      ),
    })),
  );
}

const showConnectedApps = pageHandler(async (ctx, oauth) => {
  const session = await requireSession(ctx, oauth);
  if (!session) return;
  const [apps, admin] = await Promise.all([listUserApps(oauth.db, session.userId), adminEnvironments(oauth, session)]);
  const issuer = oauth.config.issuerUrl;
  const page = connectedAppsPage({
    email: session.email,
    apps,
    admin,
    revoke: { action: `${issuer}/account/apps/revoke`, csrf: oauth.sessions.csrf(session, 'revoke') },
    signOut: { action: `${issuer}/account/sign-out`, csrf: oauth.sessions.csrf(session, 'sign-out') },
    ...(ctx.query.notice === 'revoked' ? { notice: 'Revoked: its tokens stop working within seconds.' } : {}),
  });
  sendHtmlPage(ctx, 200, page);
});

const revokeConnectedApp = pageHandler(async (ctx, oauth) => {
  const form = await accountForm(ctx, 'op_revokeConnectedApp_body_application_x_www_form_urlencoded');
  const session = await formSession(ctx, oauth, form, 'revoke');
  const clientId = form.client_id ?? '';
  let environmentId: string;
  try {
    environmentId = await findEnvironment(oauth.db, parseEnvironmentRef(form.environment ?? ''));
  } catch (error) {
    if (error instanceof DirectoryError) throw new PageRefusal(400, 'Unknown environment', `${error.message}.`);
    throw error;
  }
  if (form.target === 'own') {
    const ids = await revokeApp(oauth.db, { clientId, environmentId, userId: session.userId }, 'revoked by the user');
    for (const id of ids) oauth.verifier.markRevoked(id);
  } else {
    const role = await oauth.db
      .selectFrom('memberships')
      .select('role')
      .where('user_id', '=', session.userId)
      .where('environment_id', '=', environmentId)
      .executeTakeFirst();
    if (role?.role !== 'admin') {
      throw new PageRefusal(403, 'Not an admin', `Only an admin of ${form.environment} can revoke its apps and service accounts.`);
    }
    if (form.target === 'environment') {
      const ids = await revokeApp(oauth.db, { clientId, environmentId }, 'revoked by an environment admin');
      for (const id of ids) oauth.verifier.markRevoked(id);
    } else {
      const account = await oauth.db
        .selectFrom('service_accounts')
        .select('client_id')
        .where('client_id', '=', clientId)
        .where('environment_id', '=', environmentId)
        .executeTakeFirst();
      if (!account) throw new PageRefusal(400, 'Unknown service account', `${form.environment} has no service account ${clientId}.`);
      await revokeServiceAccount(oauth.db, clientId);
      await oauth.verifier.poll();
    }
  }
  seeOther(ctx, `${oauth.config.issuerUrl}/account/apps?notice=revoked`);
});

/** Koa handlers of the account pages, for `koaOperationHandlers` in src/operations/index.ts. */
export const accountKoaHandlers = { showAccountSignIn, submitAccountSignIn, signOut, showConnectedApps, revokeConnectedApp };
