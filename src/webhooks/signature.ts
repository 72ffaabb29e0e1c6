import crypto from 'node:crypto';

// Standard Webhooks (docs/webhooks.md): the secret is `whsec_` + base64 of the key bytes; each attempt
// is signed as `v1,` + base64(HMAC-SHA256(key, `${id}.${timestamp}.${body}`)), timestamp in Unix seconds.

const PREFIX = 'whsec_';

/** A new secret: 32 random bytes. */
export function generateSecret(): string {
  return PREFIX + crypto.randomBytes(32).toString('base64');
}

/** The key bytes of a `whsec_` secret; throws on anything else. */
export function secretKeyBytes(secret: string): Buffer {
  if (!secret.startsWith(PREFIX)) throw new Error('a webhook secret starts with whsec_');
  const encoded = secret.slice(PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw new Error('a webhook secret is whsec_ followed by base64');
  const key = Buffer.from(encoded, 'base64');
  if (key.length < 24 || key.length > 64) throw new Error('a webhook secret holds 24 to 64 bytes');
  return key;
}

export function sign(secret: string, id: string, timestamp: number, body: string): string {
  const mac = crypto.createHmac('sha256', secretKeyBytes(secret)).update(`${id}.${timestamp}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/** The headers of one delivery attempt. */
export function signedHeaders(secret: string, id: string, body: string, now = Date.now()): Record<string, string> {
  const timestamp = Math.floor(now / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': sign(secret, id, timestamp, body),
  };
}
