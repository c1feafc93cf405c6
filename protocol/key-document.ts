// Paulina primitive: the self-signed key document served at /federation/v1/keys (spec §4.3).
import type { SigningKey, VerifyKey } from "./keys.ts";
import { formatPublicKey } from "./keys.ts";
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

export function keyDocumentVerifies(doc: KeyDocument, signer: VerifyKey): boolean {
  const { signature, ...rest } = doc;
  return signer.keyId === doc.signed_by && verifyForm(signer, keyDocumentForm(rest), signature);
}
