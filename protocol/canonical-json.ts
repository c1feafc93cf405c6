// Protocol primitive (all components): RFC 8785 JSON Canonicalization Scheme, the only way SMCP turns JSON into signed bytes (spec §3).
import canonicalizeImpl from "canonicalize";

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Thrown for values that have no canonical form under spec §3 (non-finite numbers, unsafe integers, non-JSON types). */
export class CanonicalJsonError extends Error {}

/** Returns the JCS text of `value`, after checking it is I-JSON as spec §3 restricts it. */
export function canonicalJson(value: unknown): string {
  assertIJson(value, "");
  const text = (canonicalizeImpl as (v: unknown) => string | undefined)(value);
  if (text === undefined) throw new CanonicalJsonError("value has no JSON form");
  return text;
}

/** UTF-8 bytes of the JCS text: what gets hashed and signed. */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), "utf8");
}

function assertIJson(value: unknown, path: string): void {
  switch (typeof value) {
    case "string":
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`${path || "/"}: number is not finite`);
      if (Number.isInteger(value) && Math.abs(value) > MAX_SAFE) {
        throw new CanonicalJsonError(`${path || "/"}: integer outside ±(2^53−1)`);
      }
      return;
    case "object":
      if (value === null) return;
      if (Array.isArray(value)) {
        value.forEach((item, i) => assertIJson(item, `${path}/${i}`));
        return;
      }
      for (const [key, item] of Object.entries(value)) {
        if (item === undefined) throw new CanonicalJsonError(`${path}/${key}: undefined is not JSON`);
        assertIJson(item, `${path}/${key}`);
      }
      return;
    default:
      throw new CanonicalJsonError(`${path || "/"}: ${typeof value} is not JSON`);
  }
}
