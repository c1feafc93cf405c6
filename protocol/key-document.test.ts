// Tests of a Paulina primitive: the self-signed key document of GET /federation/v1/keys (spec §4.3).
import { describe, expect, it } from "vitest";
import { canonicalJson } from "./canonical-json.ts";
import { KEY_VALIDITY_MS, keyDocumentProblem, keyDocumentVerifies, makeKeyDocument } from "./key-document.ts";
import { formatPublicKey, signingKeyFromSeed, verifyKeyOf, type SigningKey } from "./keys.ts";
import { validate } from "./schemas.ts";
import { signForm } from "./signing.ts";
import type { KeyDocument } from "./types.ts";

const NOW = 1_767_225_600_000;
const key = signingKeyFromSeed(Buffer.alloc(32, 0x51));
const other = signingKeyFromSeed(Buffer.alloc(32, 0x52));

/** Signs a hand-built document correctly, so that the fault under test is the only one. */
function signed(signer: SigningKey, doc: Omit<KeyDocument, "signature">): KeyDocument {
  return { ...doc, signature: signForm(signer, { ...doc, purpose: "smcp.keys.v1" }) };
}

describe("key document (spec §4.3)", () => {
  const doc = makeKeyDocument("alice.example", key, NOW);
  const { signature: _sig, ...unsigned } = doc;

  it("KEY-13/KEY-14: lists the instance's one key, valid for 7 days, signed_by its key ID, and matches the schema", () => {
    expect(doc).toMatchObject({ server_name: "alice.example", ts: NOW, signed_by: key.keyId });
    expect(doc.verify_keys).toEqual([{ key_id: key.keyId, public_key: formatPublicKey(key.publicKey), valid_until_ts: NOW + KEY_VALIDITY_MS }]);
    expect(KEY_VALIDITY_MS).toBe(604_800_000);
    expect(validate("KeyDocument", doc)).toEqual([]);
  });

  it("KEY-15: the signature is over JCS(document minus signature, plus purpose smcp.keys.v1)", () => {
    expect(doc.signature).toBe(signForm(key, { ...unsigned, purpose: "smcp.keys.v1" }));
    expect(canonicalJson({ ...unsigned, purpose: "smcp.keys.v1" })).toContain('"purpose":"smcp.keys.v1"');
    expect(keyDocumentVerifies(doc, verifyKeyOf(key))).toBe(true);
    expect(keyDocumentVerifies(doc, verifyKeyOf(key), "alice.example")).toBe(true);
  });

  it("KEY-15: members the verifier does not know are covered by the signature too", () => {
    const extended = signed(key, { ...unsigned, extra: { future: true } } as Omit<KeyDocument, "signature">);
    expect(keyDocumentVerifies(extended, verifyKeyOf(key))).toBe(true);
    expect(keyDocumentVerifies({ ...extended, extra: { future: false } } as KeyDocument, verifyKeyOf(key))).toBe(false);
  });

  it("KEY-16: any change to a signed field breaks the signature", () => {
    const changes = [{ server_name: "rogue.example" }, { ts: NOW + 1 }, { verify_keys: [{ ...doc.verify_keys[0]!, valid_until_ts: NOW + 1 }] }];
    for (const change of changes) expect(keyDocumentProblem({ ...doc, ...change }, verifyKeyOf(key)), JSON.stringify(change)).toBe("signature does not verify");
  });

  it("KEY-16: refused when it is not the server asked for", () => {
    expect(keyDocumentProblem(doc, verifyKeyOf(key), "bob.example")).toMatch(/not bob.example/);
  });

  it("KEY-16: refused when signed_by is not in verify_keys", () => {
    const bad = signed(key, { ...unsigned, verify_keys: [{ key_id: other.keyId, public_key: formatPublicKey(other.publicKey), valid_until_ts: NOW }] });
    expect(keyDocumentProblem(bad, verifyKeyOf(key))).toBe("signed_by is not in verify_keys");
  });

  it("KEY-16: refused when a key_id is not derived from its public_key", () => {
    const bad = signed(key, { ...unsigned, verify_keys: [{ ...doc.verify_keys[0]!, public_key: formatPublicKey(other.publicKey) }] });
    expect(keyDocumentProblem(bad, verifyKeyOf(key))).toMatch(/not derived/);
  });

  it("KEY-14: refused when a valid_until_ts is more than 7 days after ts", () => {
    const bad = signed(key, { ...unsigned, verify_keys: [{ ...doc.verify_keys[0]!, valid_until_ts: NOW + KEY_VALIDITY_MS + 1 }] });
    expect(keyDocumentProblem(bad, verifyKeyOf(key))).toMatch(/7 days/);
  });

  it("KEY-16: refused when checked against another key, or signed by another key than signed_by", () => {
    expect(keyDocumentVerifies(doc, verifyKeyOf(other))).toBe(false);
    const forged = makeKeyDocument("alice.example", other, NOW);
    expect(keyDocumentVerifies({ ...forged, signed_by: key.keyId }, verifyKeyOf(key))).toBe(false);
    // A valid self-signature by `other`, presented as `key`'s document.
    const swapped = signed(other, { ...unsigned });
    expect(keyDocumentProblem(swapped, verifyKeyOf(key))).toBe("signature does not verify");
  });

  it("JCS-14: a signature over the document without the purpose member does not verify", () => {
    expect(keyDocumentVerifies({ ...doc, signature: signForm(key, unsigned) }, verifyKeyOf(key))).toBe(false);
  });
});
