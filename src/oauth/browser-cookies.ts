import type { Context } from 'koa';

// The browser's cookies of the sign-in and account pages. Where the issuer is https, their names carry the
// `__Host-` prefix (the browser keeps them only if Secure, Path=/ and without Domain: this host alone). On plain
// http (local development: http://localhost) they are plain names without Secure, because not every browser
// keeps a Secure cookie from http://localhost (Chromium and Firefox do, Safari does not): one rule that works
// in every browser, and production (https) always has the prefix.

export class BrowserCookies {
  readonly secure: boolean;
  constructor(issuerUrl: string) {
    this.secure = issuerUrl.startsWith('https:');
  }

  /** `lakehouse_session` → `__Host-lakehouse_session` over https. */
  name(base: string): string {
    return this.secure ? `__Host-${base}` : base;
  }

  /** The value of cookie `base` when it is a random token of ours (43 base64url characters). */
  read(ctx: Context, base: string): string | undefined {
    const wanted = this.name(base);
    for (const part of ctx.get('cookie').split(';')) {
      const [name, ...rest] = part.trim().split('=');
      if (name === wanted) {
        const value = rest.join('=');
        return /^[A-Za-z0-9_-]{43}$/.test(value) ? value : undefined;
      }
    }
    return undefined;
  }

  /** Sets cookie `base` (HttpOnly, SameSite=Lax, Path=/, Secure over https) for `maxAgeSeconds`; 0 deletes it. */
  set(ctx: Context, base: string, value: string, maxAgeSeconds: number): void {
    ctx.append(
      'Set-Cookie',
      `${this.name(base)}=${value}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax${this.secure ? '; Secure' : ''}`,
    );
  }
}
