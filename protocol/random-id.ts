// Protocol primitive (all components, reference and harness): unguessable identifiers from the CSPRNG (nonces §5.2, call IDs §10, txn IDs §8).
import { randomBytes, randomFillSync } from "node:crypto";
import { encodeBase64Url } from "./base64url.ts";

/**
 * Identifiers of up to 16 bytes (a nonce and a call ID per request, txn and submission IDs) are cut from one CSPRNG
 * fill of POOL_BYTES instead of one call into OpenSSL each; every byte is used once and wiped once encoded. Longer
 * ones (the control token and other secrets) are drawn directly.
 */
const POOL_BYTES = 4096;
const POOLED_MAX = 16;
const pool = Buffer.alloc(POOL_BYTES);
let used = POOL_BYTES;

/** `bytes` random bytes, base64url without padding (the spec's identifier alphabet) or hex (for shell-safe tokens). */
export function randomId(bytes = 16, encoding: "base64url" | "hex" = "base64url"): string {
  if (bytes > POOLED_MAX) {
    const raw = randomBytes(bytes);
    return encoding === "hex" ? raw.toString("hex") : encodeBase64Url(raw);
  }
  if (used + bytes > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const id = pool.toString(encoding, used, used + bytes);
  pool.fill(0, used, used + bytes);
  used += bytes;
  return id;
}
