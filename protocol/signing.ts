// Protocol primitive (all components): signed forms, Ed25519 sign/verify under the strict rule set, and the
// X-SMCP-Authorization request signature (spec §3.3, §4.4, §5).
import { hash, sign as nodeSign, verify as nodeVerify } from "node:crypto";
import { canonicalBytes } from "./canonical-json.ts";
import { decodeBase64Url, encodeBase64Url } from "./base64url.ts";
import { SERVER_NAME_SOURCE } from "./identity.ts";
import { randomId } from "./random-id.ts";
import type { SigningKey, VerifyKey } from "./keys.ts";

export const AUTH_HEADER = "x-smcp-authorization";
export const AUTH_SCHEME = "SMCP-Ed25519";

/** The group order L of edwards25519; a signature's S must be below it (spec §4.4). */
export const ORDER_L = 2n ** 252n + 27742317777372353535851937790883648493n;

/** Signs the canonical bytes of a signed form (an object with a `purpose` member, spec §3.3). */
export function signForm(key: SigningKey, form: Record<string, unknown>): string {
  return encodeBase64Url(nodeSign(null, canonicalBytes(form), key.privateKey));
}

/** Verifies a base64url signature over a signed form. False for any malformed input, never throws. */
export function verifyForm(key: VerifyKey, form: Record<string, unknown>, signature: string): boolean {
  const sig = decodeBase64Url(signature, 64);
  if (!sig || !scalarIsCanonical(sig)) return false;
  let bytes: Buffer;
  try {
    bytes = canonicalBytes(form);
  } catch {
    return false;
  }
  // node:crypto (OpenSSL) checks the cofactorless equation and compares R byte-for-byte, so a non-canonical
  // R fails; A was checked for canonical encoding and small order when the VerifyKey was built.
  return nodeVerify(null, bytes, key.keyObject, sig);
}

function scalarIsCanonical(sig: Buffer): boolean {
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]!);
  return s < ORDER_L;
}

export function sha256Base64Url(bytes: Uint8Array): string {
  return hash("sha256", bytes, "base64url");
}

/** The fields of an X-SMCP-Authorization header, in their fixed order (spec §5.2). */
export interface RequestAuth {
  origin: string;
  destination: string;
  keyId: string;
  ts: number;
  nonce: string;
  sig: string;
}

/** What a request signature covers besides its own fields (spec §5.3). */
export interface SignedRequestParts {
  method: string;
  /** The request-target exactly as sent: path and query, never decoded or re-encoded. */
  uri: string;
  body: Uint8Array;
}

const HEADER_GRAMMAR = new RegExp(
  `^${AUTH_SCHEME} origin=(${SERVER_NAME_SOURCE}) destination=(${SERVER_NAME_SOURCE}) ` +
    `key_id=(ed25519:[A-Za-z0-9_-]{1,32}) ts=(0|[1-9][0-9]{0,15}) nonce=([A-Za-z0-9_-]{22}) sig=([A-Za-z0-9_-]{86})$`,
);

/** Parses the header by its exact grammar; anything else (extra spaces, quotes, other order) is null. */
export function parseAuthHeader(value: string | undefined): RequestAuth | null {
  if (value === undefined) return null;
  const m = HEADER_GRAMMAR.exec(value);
  if (!m) return null;
  const ts = Number(m[4]);
  if (!Number.isSafeInteger(ts)) return null;
  if (!decodeBase64Url(m[5]!, 16) || !decodeBase64Url(m[6]!, 64)) return null;
  return { origin: m[1]!, destination: m[2]!, keyId: m[3]!, ts, nonce: m[5]!, sig: m[6]! };
}

export function formatAuthHeader(auth: RequestAuth): string {
  return `${AUTH_SCHEME} origin=${auth.origin} destination=${auth.destination} key_id=${auth.keyId} ts=${auth.ts} nonce=${auth.nonce} sig=${auth.sig}`;
}

/** The signed form of a request (spec §5.3): its JCS bytes are exactly what is signed. */
export function requestForm(auth: Omit<RequestAuth, "sig">, parts: SignedRequestParts): Record<string, unknown> {
  return {
    purpose: "smcp.request.v1",
    // Exactly as sent: methods are case-sensitive (RFC 9110 §9.1, SIGN-13); a lower-case one meets 405 first.
    method: parts.method,
    uri: parts.uri,
    origin: auth.origin,
    destination: auth.destination,
    key_id: auth.keyId,
    ts: auth.ts,
    nonce: auth.nonce,
    content_sha256: sha256Base64Url(parts.body),
  };
}

/** A fresh request nonce: 16 random bytes, base64url (spec §5.2). */
export function newNonce(): string {
  return randomId(16);
}

/** Signs a request; returns the X-SMCP-Authorization header value. `ts`/`nonce` are fixed only by test vectors. */
export function signRequest(
  key: SigningKey,
  req: SignedRequestParts & { origin: string; destination: string; ts?: number; nonce?: string },
): string {
  const unsigned = {
    origin: req.origin,
    destination: req.destination,
    keyId: key.keyId,
    ts: req.ts ?? Date.now(),
    nonce: req.nonce ?? newNonce(),
  };
  return formatAuthHeader({ ...unsigned, sig: signForm(key, requestForm(unsigned, req)) });
}

export function verifyRequestSignature(key: VerifyKey, auth: RequestAuth, parts: SignedRequestParts): boolean {
  return verifyForm(key, requestForm(auth, parts), auth.sig);
}
