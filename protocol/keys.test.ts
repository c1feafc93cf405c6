// Tests of a protocol primitive (Paulina, all signers): key material, key IDs and the strict public-key check (spec §4).
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { formatPublicKey, generateSeed, keyIdFor, parsePublicKey, publicKeyProblem, signingKeyFromSeed, verifyKeyFrom, verifyKeyOf } from "./keys.ts";
import { validate } from "./schemas.ts";

describe("keys (spec §4.1, §4.4)", () => {
  it("KEY-01: RFC 8032 TEST 1 seed gives its public key", () => {
    const key = signingKeyFromSeed(Buffer.from("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "hex"));
    expect(key.publicKey.toString("hex")).toBe("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  });

  it("KEY-01: a seed is exactly 32 bytes", () => {
    expect(() => signingKeyFromSeed(Buffer.alloc(31))).toThrow();
    expect(() => signingKeyFromSeed(Buffer.alloc(33))).toThrow();
  });

  it("KEY-01: generated seeds are 32 random bytes giving distinct keys", () => {
    const [a, b] = [generateSeed(), generateSeed()];
    expect(a).toHaveLength(32);
    expect(a.equals(b)).toBe(false);
    expect(signingKeyFromSeed(a).keyId).not.toBe(signingKeyFromSeed(b).keyId);
  });

  it("KEY-02: key_id = ed25519: + first 8 characters of base64url(SHA-256(public key)) (spec §4.1)", () => {
    const key = signingKeyFromSeed(Buffer.alloc(32, 3));
    const expected = "ed25519:" + createHash("sha256").update(key.publicKey).digest("base64url").slice(0, 8);
    expect(keyIdFor(key.publicKey)).toBe(expected);
    expect(key.keyId).toBe(expected);
  });

  it("KEY-03: public key wire form round-trips and matches the PublicKey schema", () => {
    const key = signingKeyFromSeed(Buffer.alloc(32, 4));
    const text = formatPublicKey(key.publicKey);
    expect(validate("PublicKey", text)).toEqual([]);
    expect(parsePublicKey(text)?.equals(key.publicKey)).toBe(true);
  });

  it("KEY-03/JCS-12: parsePublicKey refuses a wrong prefix, padding, the standard alphabet and wrong lengths", () => {
    const text = formatPublicKey(signingKeyFromSeed(Buffer.alloc(32, 5)).publicKey);
    for (const bad of [text.replace("ed25519:", "ED25519:"), text.slice(8), text + "=", text.slice(0, -1), text + "AA", "ed25519:" + Buffer.alloc(32).toString("base64")]) {
      expect(parsePublicKey(bad), bad).toBeNull();
    }
  });

  it("KEY-17/KEY-18/KEY-19: publicKeyProblem refuses wrong lengths, non-canonical encodings and small-order points (spec §4.4)", () => {
    expect(publicKeyProblem(Buffer.alloc(31))).toMatch(/32 bytes/);
    const identity = Buffer.alloc(32);
    identity[0] = 1;
    expect(publicKeyProblem(identity)).toMatch(/small order/);
    const nonCanonical = Buffer.alloc(32, 0xff);
    nonCanonical[0] = 0xee; // y = p + 1: a second spelling of the identity
    nonCanonical[31] = 0x7f;
    expect(publicKeyProblem(nonCanonical)).toMatch(/canonical/);
    expect(publicKeyProblem(signingKeyFromSeed(Buffer.alloc(32, 6)).publicKey)).toBeNull();
  });

  it("KEY-23: verifyKeyFrom builds a usable key for a good public key and throws for a bad one", () => {
    const key = signingKeyFromSeed(Buffer.alloc(32, 7));
    expect(verifyKeyOf(key)).toMatchObject({ keyId: key.keyId });
    const identity = Buffer.alloc(32);
    identity[0] = 1;
    expect(() => verifyKeyFrom("ed25519:AAAAAAAA", identity)).toThrow(/small order/);
  });
});
