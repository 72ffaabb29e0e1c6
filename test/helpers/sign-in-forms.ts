import assert from 'node:assert/strict';

// Driving the sign-in pages by hand (docs/connecting-clients.md): their one form, and a cookie-keeping
// fetch. Shared by the OAuth test helpers and the benchmark's user sign-ins (bench/lib/oauth-flow.ts).

export interface ParsedForm {
  action: string;
  /** Hidden inputs (request, csrf_token, ...). */
  hidden: Record<string, string>;
  /** Names of every input, select and button. */
  fields: string[];
  /** Options of the environment select. */
  environments: string[];
}

const attr = (tag: string, name: string) => {
  const match = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return match?.[1]?.replace(/&#(\d+);/g, (_m, code: string) => String.fromCharCode(Number(code))).replace(/&amp;/g, '&');
};

/** Reads the one form of a sign-in page (docs/connecting-clients.md). */
export function parseForm(html: string, base: string): ParsedForm {
  const forms = html.match(/<form\b[^>]*>/g) ?? [];
  assert.equal(forms.length, 1, 'each page holds exactly one form');
  const form = forms[0] ?? '';
  assert.equal(attr(form, 'method'), 'post');
  const hidden: Record<string, string> = {};
  const fields: string[] = [];
  for (const tag of html.match(/<(input|select|button)\b[^>]*>/g) ?? []) {
    const name = attr(tag, 'name');
    if (!name) continue;
    fields.push(name);
    if (attr(tag, 'type') === 'hidden') hidden[name] = attr(tag, 'value') ?? '';
  }
  const environments = [...html.matchAll(/<option value="([^"]*)"/g)].map((m) => m[1] ?? '');
  return { action: new URL(attr(form, 'action') ?? '', base).href, hidden, fields, environments };
}

/** A fetch that keeps cookies and does not follow redirects, like a browser tab driven by hand. */
export class Browser {
  private readonly cookies = new Map<string, string>();

  async request(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    return response;
  }

  async post(url: string, fields: Record<string, string>): Promise<Response> {
    return this.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }

  forgetCookies(): void {
    this.cookies.clear();
  }
}
