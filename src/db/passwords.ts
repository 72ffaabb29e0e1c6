import { hash, verify } from '@node-rs/argon2';

export const MIN_PASSWORD_LENGTH = 12;

// OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane); @node-rs/argon2 defaults to the argon2id variant.
const ARGON2_OPTIONS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 };

/** Passwords long enough for the length rule that appear at the top of every breach list. */
const COMMON_PASSWORDS = new Set([
  '123456789012',
  '1234567890123',
  '12345678901234',
  '123456123456',
  'qwertyuiopasdf',
  'qwertyuiop123',
  'qwerty123456',
  '1q2w3e4r5t6y',
  '1qaz2wsx3edc',
  'zaq12wsxcde3',
  'password1234',
  'password12345',
  'password123456',
  'passwordpassword',
  'password!123',
  'p@ssw0rd1234',
  'letmein12345',
  'iloveyou1234',
  'welcome12345',
  'changeme1234',
  'administrator',
  'admin1234567',
  'adminadmin123',
  'abcdefghijkl',
  'abc123abc123',
  'trustno1trustno1',
  'football1234',
  'baseball1234',
  'sunshine1234',
  'princess1234',
  'qwertyqwerty',
  'asdfghjklasdf',
  'monkey123456',
  'dragon123456',
  'superman1234',
  'correcthorsebatterystaple',
]);

/** Why `password` is too weak, or undefined when it is acceptable. */
export function passwordWeakness(password: string): string | undefined {
  if ([...password].length < MIN_PASSWORD_LENGTH) {
    return `the password must be at least ${MIN_PASSWORD_LENGTH} characters long`;
  }
  if (new Set(password).size === 1) return 'the password must not be one character repeated';
  if (COMMON_PASSWORDS.has(password.toLowerCase())) return 'the password is too common; choose another one';
  return undefined;
}

export function hashPassword(password: string): Promise<string> {
  return hash(password, ARGON2_OPTIONS);
}

/** False for a wrong password or an unreadable hash; never throws on bad input. */
export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}
