// Kathy (selective config sharing, spec §18.3 KATHY-09..KATHY-11): which entries are secrets that never leave — marked
// secret, a key naming a credential, a value holding credential fields, this instance's own token or key, or a credential string.
import { InstanceSecrets, normalizeFieldName, SECRET_FIELD_NAMES } from "../profiles/instance-secrets.ts";

/** Key segments (split at `.`, `_`, `-`; compared joined and alone) that name a secret. */
const SECRET_WORDS = new Set(["password", "passwd", "secret", "secrets", "token", "apikey", "credential", "credentials", "privatekey", "accesskey", "seed", "authorization", "cookie"]);
const CREDENTIAL_TEXT = [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/i, /SMCP-Ed25519\s/, /ed25519-seed:/, /-----BEGIN [A-Z ]*PRIVATE KEY-----/];

/** Why the key names a secret, or undefined. */
export function secretKey(key: string): string | undefined {
  for (const segment of key.split(".")) {
    const words = segment.split(/[_-]/);
    const joined = words.join("");
    if (SECRET_WORDS.has(joined)) return `key segment ${JSON.stringify(segment)} names a secret`;
    for (let i = 0; i < words.length; i++) {
      if (SECRET_WORDS.has(words[i]!)) return `key segment ${JSON.stringify(segment)} names a secret`;
      if (i + 1 < words.length && SECRET_WORDS.has(words[i]! + words[i + 1]!)) return `key segment ${JSON.stringify(segment)} names a secret`;
    }
  }
  return undefined;
}

/** Why the value holds a secret, or undefined: credential field names at any depth, this instance's secrets, credential strings. */
export function secretValue(value: unknown, secrets: InstanceSecrets | undefined, depth = 0): string | undefined {
  if (typeof value === "string") {
    if (secrets?.occursIn(value)) return "the value contains this instance's control token or signing key";
    return CREDENTIAL_TEXT.some((re) => re.test(value)) ? "the value contains a credential" : undefined;
  }
  if (value === null || typeof value !== "object" || depth > 64) return undefined;
  const names = new Set(SECRET_FIELD_NAMES);
  for (const [k, v] of Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value)) {
    if (!Array.isArray(value) && names.has(normalizeFieldName(k))) return `the value has a credential field ${JSON.stringify(k)}`;
    const why = secretValue(v, secrets, depth + 1);
    if (why) return why;
  }
  return undefined;
}
