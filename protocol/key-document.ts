// Paulina primitive: the self-signed key document served at /federation/v1/keys (spec §4.3).
import type { SigningKey, VerifyKey } from "./keys.ts";
import { formatPublicKey, keyIdFor, parsePublicKey } from "./keys.ts";
import { signForm, verifyForm } from "./signing.ts";
import type { KeyDocument } from "./types.ts";

export const KEY_VALIDITY_MS = 7 * 24 * 60 * 60 * 1000;

function keyDocumentForm(doc: Omit<KeyDocument, "signature">): Record<string, unknown> {
  return { ...doc, purpose: "smcp.keys.v1" };
}

export function makeKeyDocument(serverName: string, key: SigningKey, now: number): KeyDocument {
  const doc: Omit<KeyDocument, "signature"> = {
    server_name: serverName,
    verify_keys: [{ key_id: key.keyId, public_key: formatPublicKey(key.publicKey), valid_until_ts: now + KEY_VALIDITY_MS }],
    ts: now,
    signed_by: key.keyId,
  };
  return { ...doc, signature: signForm(key, keyDocumentForm(doc)) };
}

/**
 * Why a key document fails spec §4.3 (KEY-14, KEY-16) against the key it claims to be signed by, or null.
 * `server`, when given, is the server name that was asked for.
 */
export function keyDocumentProblem(doc: KeyDocument, signer: VerifyKey, server?: string): string | null {
  if (server !== undefined && doc.server_name !== server) return `document is for ${doc.server_name}, not ${server}`;
  for (const entry of doc.verify_keys) {
    const raw = parsePublicKey(entry.public_key);
    if (!raw || keyIdFor(raw) !== entry.key_id) return `key_id ${entry.key_id} is not derived from its public_key`;
    if (entry.valid_until_ts > doc.ts + KEY_VALIDITY_MS) return `valid_until_ts of ${entry.key_id} is more than 7 days after ts`;
  }
  const listed = doc.verify_keys.find((k) => k.key_id === doc.signed_by);
  if (!listed) return "signed_by is not in verify_keys";
  if (signer.keyId !== doc.signed_by || !signer.publicKey.equals(parsePublicKey(listed.public_key)!)) return "document is not signed by the given key";
  const { signature, ...rest } = doc;
  return verifyForm(signer, keyDocumentForm(rest), signature) ? null : "signature does not verify";
}

export function keyDocumentVerifies(doc: KeyDocument, signer: VerifyKey, server?: string): boolean {
  return keyDocumentProblem(doc, signer, server) === null;
}
