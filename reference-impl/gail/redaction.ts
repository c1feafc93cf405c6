// Gail (log aggregation, spec §18.2 GAIL-07, GAIL-08): removes secrets from a log record before it is queued —
// secret field names anywhere in it, the instance's own token and key in any string, bearer and request-signing credentials.
import { InstanceSecrets, normalizeFieldName, SECRET_FIELD_NAMES } from "../profiles/instance-secrets.ts";

export const REDACTED = "[REDACTED]";
const MAX_DEPTH = 8;
const MAX_ITEMS = 100;
const MAX_STRING = 4096;

/** Credentials in header form, whatever field carries them. */
const CREDENTIAL_PATTERNS: RegExp[] = [
  /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi,
  /SMCP-Ed25519\s+[^\s"',;]*(?:\s+[a-z_]+=[^\s"',;]*)*/g,
  /ed25519-seed:[A-Za-z0-9_-]+/g,
];

export class Redactor {
  private readonly names: Set<string>;

  constructor(private readonly secrets: InstanceSecrets, extraFieldNames: readonly string[] = []) {
    this.names = new Set([...SECRET_FIELD_NAMES, ...extraFieldNames].map(normalizeFieldName));
  }

  isSecretField(name: string): boolean {
    return this.names.has(normalizeFieldName(name));
  }

  /** A copy of `value` with every secret replaced by "[REDACTED]"; bounded in depth, items and string length. */
  value(value: unknown, depth = 0): unknown {
    if (typeof value === "string") return this.text(value);
    if (value === null || typeof value !== "object") return typeof value === "number" && !Number.isFinite(value) ? null : value;
    if (depth >= MAX_DEPTH) return "[TRUNCATED]";
    if (Array.isArray(value)) return value.slice(0, MAX_ITEMS).map((v) => this.value(v, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>).slice(0, MAX_ITEMS)) {
      out[this.text(k)] = this.isSecretField(k) ? REDACTED : this.value(v, depth + 1);
    }
    return out;
  }

  text(s: string): string {
    // Replaced before truncating: a cut must never leave part of a secret behind.
    let out = s;
    for (const secret of this.secrets.all()) out = out.split(secret).join(REDACTED);
    for (const re of CREDENTIAL_PATTERNS) out = out.replace(re, (_m, scheme?: unknown) => (typeof scheme === "string" ? `${scheme} ${REDACTED}` : REDACTED));
    return out.length > MAX_STRING ? out.slice(0, MAX_STRING) : out;
  }
}
