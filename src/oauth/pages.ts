import type { Scope } from './principal.js';

// The sign-in pages: plain server-rendered HTML, one form per page, every dynamic value escaped. Field names
// are part of the operator contract (docs/connecting-clients.md).

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`=]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:26rem;margin:8vh auto;background:#fff;border-radius:10px;padding:2rem;box-shadow:0 2px 12px #0002}
h1{font-size:1.3rem;margin:0 0 1rem}
label{display:block;margin:.8rem 0 .2rem;font-weight:600}
input[type=email],input[type=password],select{width:100%;box-sizing:border-box;padding:.55rem;border:1px solid #b8bfcc;border-radius:6px;font:inherit}
button{font:inherit;padding:.55rem 1.2rem;border-radius:6px;border:1px solid #2f5bd3;background:#2f5bd3;color:#fff;cursor:pointer;margin:1rem .5rem 0 0}
button.secondary{background:#fff;color:#2f5bd3}
.error{background:#fdecec;border:1px solid #e5a1a1;color:#8a1c1c;padding:.6rem .8rem;border-radius:6px}
.muted{color:#5b6475;font-size:.9rem}
ul{padding-left:1.2rem}
label.check{font-weight:400;display:flex;gap:.5rem;align-items:center}
code{background:#eef0f4;padding:0 .25rem;border-radius:4px}
main.wide{max-width:60rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #e1e4ea;vertical-align:top;font-size:.95rem}
td form{margin:0}
td button{margin:0;padding:.3rem .8rem}
.notice{background:#e8f5ec;border:1px solid #9fd3ad;color:#1c5a2c;padding:.6rem .8rem;border-radius:6px}`;

/** A page of ours; `extra` gives the dashboard pages their own class of <main> and more style. */
export function layout(title: string, content: string, wide = false, extra: { mainClass?: string; style?: string } = {}): string {
  const mainClass = extra.mainClass ?? (wide ? 'wide' : undefined);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)} · lakehouse-mcp</title>
<style>${STYLE}${extra.style ?? ''}</style>
</head>
<body>
<main${mainClass ? ` class="${mainClass}"` : ''}>
${content}
</main>
</body>
</html>
`;
}

export interface FormContext {
  /** Where the form posts: the issuer's authorization endpoint. */
  action: string;
  /** The signed state of the authorization request. */
  request: string;
  csrf: string;
  clientName: string;
  /** Host (or scheme) the browser returns to. */
  redirectHost: string;
  /** The account page (connected apps, sign-out). */
  accountUrl: string;
}

const hidden = (f: FormContext) =>
  `<input type="hidden" name="request" value="${escapeHtml(f.request)}">
<input type="hidden" name="csrf_token" value="${escapeHtml(f.csrf)}">`;

/** The email and password fields and the submit button of a sign-in form (OAuth and account pages alike). */
export const credentialFields = (email: string | undefined) =>
  `<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required autofocus value="${escapeHtml(email ?? '')}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>`;

export const errorBox = (error: string | undefined) => (error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : '');

const clientLine = (f: FormContext) =>
  `<p><strong>${escapeHtml(f.clientName)}</strong> asks to use lakehouse-mcp on your behalf. After this you return to <strong>${escapeHtml(f.redirectHost)}</strong>.</p>`;

export function errorPage(
  title: string,
  message: string,
  hint = 'You can close this window and start again from your application.',
): string {
  return layout(
    title,
    `<h1>${escapeHtml(title)}</h1>\n<p class="error" role="alert">${escapeHtml(message)}</p>\n<p class="muted">${escapeHtml(hint)}</p>`,
  );
}

export function signInPage(f: FormContext & { email?: string; error?: string }): string {
  return layout(
    'Sign in',
    `<h1>Sign in</h1>
${clientLine(f)}
${errorBox(f.error)}
<form method="post" action="${escapeHtml(f.action)}">
${hidden(f)}
${credentialFields(f.email)}
</form>`,
  );
}

const SCOPE_TEXT: Record<Scope, string> = {
  read: 'read: query the data, read saved insights, dashboards, discoveries, memories and notifications',
  write: 'write: create, change and delete insights, dashboards, discoveries and memories; send notifications',
};

export interface EnvironmentChoice {
  /** `<org>/<env>` */
  value: string;
  role: string;
}

export function consentPage(
  f: FormContext & { email: string; scopes: Scope[]; environments: EnvironmentChoice[]; error?: string },
): string {
  const options = f.environments
    .map(
      (e, i) =>
        `<option value="${escapeHtml(e.value)}"${i === 0 ? ' selected' : ''}>${escapeHtml(e.value)} (${escapeHtml(e.role)})</option>`,
    )
    .join('\n');
  const scopes = f.scopes.map((s) => `<li>${escapeHtml(SCOPE_TEXT[s])}</li>`).join('\n');
  return layout(
    'Allow access',
    `<h1>Allow access?</h1>
${clientLine(f)}
<p class="muted">Signed in as ${escapeHtml(f.email)}. Not you? Sign out on <a href="${escapeHtml(f.accountUrl)}">your account page</a>, then start again.</p>
${errorBox(f.error)}
<form method="post" action="${escapeHtml(f.action)}">
${hidden(f)}
<label for="environment">Environment</label>
<select id="environment" name="environment" required>
${options}
</select>
<p>It asks for:</p>
<ul>
${scopes}
</ul>
<p class="muted">A reader gets read only, whatever is asked.</p>
<label class="check"><input type="checkbox" name="read_only" value="1"${f.scopes.includes('write') ? '' : ' checked'}> Read only: do not allow changes</label>
<button type="submit" name="decision" value="approve">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>`,
  );
}

export function noAccessPage(f: FormContext & { email: string }): string {
  return layout(
    'No access yet',
    `<h1>No access yet</h1>
<p>You are signed in as <strong>${escapeHtml(f.email)}</strong>, but you are not a member of any environment.</p>
<p>Ask an administrator to give you access, e.g. <code>admin member add ${escapeHtml(f.email)} &lt;org&gt;/&lt;env&gt; --role reader</code>, then start again from ${escapeHtml(f.clientName)}.</p>
<form method="post" action="${escapeHtml(f.action)}">
${hidden(f)}
<button type="submit" name="decision" value="deny" class="secondary">Back to ${escapeHtml(f.clientName)}</button>
</form>`,
  );
}
