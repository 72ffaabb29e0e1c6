import crypto from 'node:crypto';

/** A URL-safe random token of `bytes` bytes of entropy (base64url, no padding). */
export const randomToken = (bytes = 32): string => crypto.randomBytes(bytes).toString('base64url');

/**
 * SHA-256 of a high-entropy random value (authorization code, refresh token, client secret): what the database
 * keeps. A slow password hash would add nothing here: guessing a 256-bit value is hopeless either way.
 */
export const sha256 = (value: string): Buffer => crypto.createHash('sha256').update(value, 'utf8').digest();

/** Constant-time comparison of two strings of possibly different lengths. */
export function safeEqual(a: string, b: string): boolean {
  const ha = sha256(a);
  const hb = sha256(b);
  return crypto.timingSafeEqual(ha, hb) && a.length === b.length;
}

/** PKCE S256: BASE64URL(SHA256(ASCII(code_verifier))) (RFC 7636 §4.2). */
export const pkceChallenge = (verifier: string): string => crypto.createHash('sha256').update(verifier, 'ascii').digest('base64url');

/** RFC 7636 §4.1: 43 to 128 unreserved characters. */
export const CODE_VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
/** An S256 challenge is the base64url of 32 bytes: 43 characters. */
export const CODE_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
