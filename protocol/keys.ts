// Protocol primitive (Paulina, all signers): Ed25519 key material, key IDs and the strict public-key check (spec §4).
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import * as noble from "@noble/ed25519";
import { decodeBase64Url, encodeBase64Url } from "./base64url.ts";

const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const KEY_PREFIX = "ed25519:";

/** An instance's signing identity. `seed` is the RFC 8032 32-byte private key. */
export interface SigningKey {
  keyId: string;
  publicKey: Buffer;
  privateKey: KeyObject;
  seed: Buffer;
}

/** A peer's key, checked once at load time so that verification on the hot path is a single native call. */
export interface VerifyKey {
  keyId: string;
  publicKey: Buffer;
  keyObject: KeyObject;
}

export function generateSeed(): Buffer {
  const { privateKey } = generateKeyPairSync("ed25519");
  const der = privateKey.export({ format: "der", type: "pkcs8" });
  return Buffer.from(der.subarray(der.length - 32));
}

export function signingKeyFromSeed(seed: Uint8Array): SigningKey {
  if (seed.length !== 32) throw new Error("an Ed25519 seed is 32 bytes");
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  const publicKey = Buffer.from(spki.subarray(SPKI_PREFIX.length));
  return { keyId: keyIdFor(publicKey), publicKey, privateKey, seed: Buffer.from(seed) };
}

/** `ed25519:` + the first 8 characters of base64url(SHA-256(public key)) (spec §4.1). */
export function keyIdFor(publicKey: Uint8Array): string {
  return KEY_PREFIX + encodeBase64Url(createHash("sha256").update(publicKey).digest()).slice(0, 8);
}

/** The wire form `ed25519:<base64url>` of a public key (spec §4.1). */
export function formatPublicKey(publicKey: Uint8Array): string {
  return KEY_PREFIX + encodeBase64Url(publicKey);
}

/** Parses `ed25519:<base64url>` into 32 raw bytes, or null. */
export function parsePublicKey(text: string): Buffer | null {
  if (!text.startsWith(KEY_PREFIX)) return null;
  return decodeBase64Url(text.slice(KEY_PREFIX.length), 32);
}

/**
 * Why a public key is unacceptable under spec §4.4, or null when it is fine:
 * the encoding must be canonical (y < p, no negative zero) and the point must not have small order.
 */
export function publicKeyProblem(publicKey: Uint8Array): string | null {
  if (publicKey.length !== 32) return "public key is not 32 bytes";
  let point: noble.Point;
  try {
    point = noble.Point.fromBytes(publicKey, false);
  } catch {
    return "public key is not a canonical encoding of a curve point";
  }
  if (point.isSmallOrder()) return "public key has small order";
  return null;
}

/** Builds a verification key, or throws when the key fails the spec §4.4 checks. */
export function verifyKeyFrom(keyId: string, publicKey: Uint8Array): VerifyKey {
  const problem = publicKeyProblem(publicKey);
  if (problem) throw new Error(problem);
  const keyObject = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: "der", type: "spki" });
  return { keyId, publicKey: Buffer.from(publicKey), keyObject };
}

export function verifyKeyOf(key: SigningKey): VerifyKey {
  return verifyKeyFrom(key.keyId, key.publicKey);
}
