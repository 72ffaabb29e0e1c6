import { decrypt, deriveKey, encrypt } from '../secret-key.js';

// Webhook secrets are needed in clear to sign, so they are sealed (AES-256-GCM) rather than hashed, with a
// key derived for this one purpose and the webhook's id as associated data (a sealed secret moved to
// another row does not open).

const PURPOSE = 'webhook-secrets';

export function sealSecret(secretKey: Buffer, webhookId: string, secret: string): string {
  return encrypt(deriveKey(secretKey, PURPOSE), secret, `webhook:${webhookId}`);
}

export function openSecret(secretKey: Buffer, webhookId: string, sealed: string): string {
  return decrypt(deriveKey(secretKey, PURPOSE), sealed, `webhook:${webhookId}`);
}
