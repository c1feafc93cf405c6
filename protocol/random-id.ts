// Protocol primitive (all components, reference and harness): unguessable identifiers from the CSPRNG (nonces §5.2, call IDs §10, txn IDs §8).
import { randomBytes } from "node:crypto";
import { encodeBase64Url } from "./base64url.ts";

/** `bytes` random bytes, base64url without padding (the spec's identifier alphabet) or hex (for shell-safe tokens). */
export function randomId(bytes = 16, encoding: "base64url" | "hex" = "base64url"): string {
  const raw = randomBytes(bytes);
  return encoding === "hex" ? raw.toString("hex") : encodeBase64Url(raw);
}
