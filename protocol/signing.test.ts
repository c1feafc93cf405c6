// Tests of a protocol primitive (all components): signed forms, the strict verify, and the X-SMCP-Authorization
// header grammar and signed request form (spec §3.3, §4.4, §5.2, §5.3).
import { describe, expect, it } from "vitest";
import { encodeBase64Url } from "./base64url.ts";
import canonicalize from "canonicalize";
import { canonicalBytes } from "./canonical-json.ts";
import { signingKeyFromSeed, verifyKeyOf } from "./keys.ts";
import {
  formatAuthHeader,
  ORDER_L,
  parseAuthHeader,
  requestForm,
  sha256Base64Url,
  signForm,
  signRequest,
  verifyForm,
  verifyRequestSignature,
  type RequestAuth,
} from "./signing.ts";

const key = signingKeyFromSeed(Buffer.alloc(32, 0x11));
const other = signingKeyFromSeed(Buffer.alloc(32, 0x22));
const SIG = "A".repeat(85) + "A";
const NONCE = encodeBase64Url(Buffer.alloc(16, 0xab));
const GOOD = `SMCP-Ed25519 origin=bob.example destination=alice.example key_id=ed25519:abcd_123 ts=1767225600000 nonce=${NONCE} sig=${SIG}`;

function withS(signature: string, s: bigint): string {
  const bytes = Buffer.from(signature, "base64url");
  for (let i = 32; i < 64; i++) {
    bytes[i] = Number(s & 0xffn);
    s >>= 8n;
  }
  return encodeBase64Url(bytes);
}

describe("signed forms (spec §3.3, §4.4)", () => {
  const form = { purpose: "smcp.event.v1", event_id: "$" + "A".repeat(43) };

  it("JCS-13/JCS-15: a signature verifies over its form and only with the signer's key", () => {
    const sig = signForm(key, form);
    expect(sig).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect(verifyForm(verifyKeyOf(key), form, sig)).toBe(true);
    expect(verifyForm(verifyKeyOf(other), form, sig)).toBe(false);
  });

  it("JCS-14: key order of the form does not matter; its content and purpose do (spec §3.3)", () => {
    const sig = signForm(key, form);
    expect(verifyForm(verifyKeyOf(key), { event_id: form.event_id, purpose: form.purpose }, sig)).toBe(true);
    expect(verifyForm(verifyKeyOf(key), { ...form, purpose: "smcp.head.v1" }, sig)).toBe(false);
  });

  it("KEY-21: S ≥ L is refused even though [S]B is unchanged (spec §4.4)", () => {
    const sig = signForm(key, form);
    let s = 0n;
    const bytes = Buffer.from(sig, "base64url");
    for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(bytes[i]!);
    expect(verifyForm(verifyKeyOf(key), form, withS(sig, s + ORDER_L))).toBe(false);
  });

  it("JCS-15/KEY-17: malformed signatures and forms with no canonical form are false, never a throw", () => {
    const sig = signForm(key, form);
    for (const bad of ["", sig + "==", sig.slice(0, 85), "+" + sig.slice(1), "/" + sig.slice(1), sig + "\n"]) {
      expect(verifyForm(verifyKeyOf(key), form, bad)).toBe(false);
    }
    expect(verifyForm(verifyKeyOf(key), { purpose: "x", n: NaN }, sig)).toBe(false);
    expect(verifyForm(verifyKeyOf(key), { purpose: "x", n: 2 ** 60 }, sig)).toBe(false);
  });
});

describe("X-SMCP-Authorization grammar (spec §5.2)", () => {
  it("SIGN-05: parses the exact grammar into its fields", () => {
    expect(parseAuthHeader(GOOD)).toEqual({ origin: "bob.example", destination: "alice.example", keyId: "ed25519:abcd_123", ts: 1767225600000, nonce: NONCE, sig: SIG });
  });

  it("SIGN-11: accepts a key_id containing '-' (key IDs are base64url, spec §4.1) and server names with ports", () => {
    const h = GOOD.replace("ed25519:abcd_123", "ed25519:PWyI5Y-u").replace("alice.example", "alice.example:8448");
    expect(parseAuthHeader(h)).toMatchObject({ keyId: "ed25519:PWyI5Y-u", destination: "alice.example:8448" });
  });

  it("SIGN-05: format and parse are inverse", () => {
    const auth = parseAuthHeader(GOOD)!;
    expect(formatAuthHeader(auth)).toBe(GOOD);
  });

  it("SIGN-06: rejects extra, missing or other whitespace", () => {
    for (const h of [" " + GOOD, GOOD + " ", GOOD.replace(" origin=", "  origin="), GOOD.replace(" ts=", "\tts="), GOOD.replace(" sig=", "\nsig="), GOOD.replace("origin=", "origin= ")]) {
      expect(parseAuthHeader(h), JSON.stringify(h)).toBeNull();
    }
  });

  it("SIGN-06/SIGN-07: rejects quoted values and comma separators", () => {
    expect(parseAuthHeader(GOOD.replace("origin=bob.example", 'origin="bob.example"'))).toBeNull();
    expect(parseAuthHeader(GOOD.replace(`nonce=${NONCE}`, `nonce="${NONCE}"`))).toBeNull();
    expect(parseAuthHeader(GOOD.replace(" destination=", ", destination="))).toBeNull();
  });

  it("SIGN-06: rejects reordered fields", () => {
    const auth = parseAuthHeader(GOOD)!;
    const swapped = `SMCP-Ed25519 destination=${auth.destination} origin=${auth.origin} key_id=${auth.keyId} ts=${auth.ts} nonce=${auth.nonce} sig=${auth.sig}`;
    expect(parseAuthHeader(swapped)).toBeNull();
    const sigFirst = `SMCP-Ed25519 sig=${auth.sig} origin=${auth.origin} destination=${auth.destination} key_id=${auth.keyId} ts=${auth.ts} nonce=${auth.nonce}`;
    expect(parseAuthHeader(sigFirst)).toBeNull();
  });

  it("SIGN-06: rejects a lower-case or other scheme", () => {
    for (const scheme of ["smcp-ed25519", "SMCP-ED25519", "Bearer", "SMCP-Ed448"]) expect(parseAuthHeader(GOOD.replace("SMCP-Ed25519", scheme))).toBeNull();
    expect(parseAuthHeader(GOOD.replace("SMCP-Ed25519 ", ""))).toBeNull();
  });

  it("SIGN-06/SIGN-07: rejects every missing field, an extra field, and a missing header", () => {
    for (const field of ["origin", "destination", "key_id", "ts", "nonce", "sig"]) {
      const without = GOOD.split(" ").filter((part) => !part.startsWith(field + "=")).join(" ");
      expect(parseAuthHeader(without), field).toBeNull();
    }
    expect(parseAuthHeader(GOOD + " extra=1")).toBeNull();
    expect(parseAuthHeader(undefined)).toBeNull();
    expect(parseAuthHeader("")).toBeNull();
  });

  it("SIGN-08: rejects malformed field values (ts with a leading zero or beyond 2^53, bad nonce or sig, upper-case names)", () => {
    const bad = [
      GOOD.replace("ts=1767225600000", "ts=01767225600000"),
      GOOD.replace("ts=1767225600000", "ts=9007199254740993"),
      GOOD.replace("ts=1767225600000", "ts=-1"),
      GOOD.replace("ts=1767225600000", "ts=1.5"),
      GOOD.replace(`nonce=${NONCE}`, `nonce=${NONCE.slice(1)}`),
      GOOD.replace(`nonce=${NONCE}`, `nonce=${NONCE.slice(0, 21)}B`), // non-canonical trailing bits
      GOOD.replace(`sig=${SIG}`, `sig=${SIG.slice(0, 85)}B`),
      GOOD.replace(`sig=${SIG}`, `sig=${SIG}==`),
      GOOD.replace("origin=bob.example", "origin=Bob.example"),
      GOOD.replace("key_id=ed25519:abcd_123", "key_id=abcd_123"),
    ];
    for (const h of bad) expect(parseAuthHeader(h), h).toBeNull();
  });
});

describe("signed request form (spec §5.3)", () => {
  const unsigned: Omit<RequestAuth, "sig"> = { origin: "bob.example", destination: "alice.example", keyId: key.keyId, ts: 1767225600000, nonce: NONCE };

  it("SIGN-12/SIGN-13/SIGN-14/SIGN-19: keeps the method as sent (case-sensitive), the uri byte-for-byte, hashes the exact body", () => {
    const form = requestForm(unsigned, { method: "put", uri: "/a/%21b%3Ac?x=%2F&y=1", body: Buffer.from('{ "a": 1 }') });
    expect(form).toEqual({
      purpose: "smcp.request.v1",
      method: "put",
      uri: "/a/%21b%3Ac?x=%2F&y=1",
      origin: "bob.example",
      destination: "alice.example",
      key_id: key.keyId,
      ts: 1767225600000,
      nonce: NONCE,
      content_sha256: sha256Base64Url(Buffer.from('{ "a": 1 }')),
    });
  });

  it("SIGN-20: an empty body hashes as SHA-256 of the empty string", () => {
    expect(requestForm(unsigned, { method: "GET", uri: "/", body: new Uint8Array(0) }).content_sha256).toBe("47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
  });

  it("SIGN-12/SIGN-17: the signature breaks when any signed part changes (method, uri spelling, body byte, origin, destination, ts, nonce)", () => {
    const parts = { method: "PUT", uri: "/federation/v1/send/%21t", body: Buffer.from('{"a":1}') };
    const header = signRequest(key, { ...parts, origin: unsigned.origin, destination: unsigned.destination, ts: unsigned.ts, nonce: unsigned.nonce });
    const auth = parseAuthHeader(header)!;
    const vk = verifyKeyOf(key);
    expect(verifyRequestSignature(vk, auth, parts)).toBe(true);
    expect(verifyRequestSignature(vk, auth, { ...parts, method: "POST" })).toBe(false);
    expect(verifyRequestSignature(vk, auth, { ...parts, uri: "/federation/v1/send/!t" })).toBe(false);
    expect(verifyRequestSignature(vk, auth, { ...parts, body: Buffer.from('{"a":2}') })).toBe(false);
    expect(verifyRequestSignature(vk, auth, { ...parts, body: Buffer.from('{"a": 1}') })).toBe(false);
    for (const change of [{ origin: "carol.example" }, { destination: "carol.example" }, { ts: unsigned.ts + 1 }, { nonce: encodeBase64Url(Buffer.alloc(16, 1)) }]) {
      expect(verifyRequestSignature(vk, { ...auth, ...change }, parts), JSON.stringify(change)).toBe(false);
    }
  });

  it("SIGN-09/SIGN-24: signRequest uses a fresh 16-byte nonce and the current time when none is fixed", () => {
    const a = parseAuthHeader(signRequest(key, { method: "GET", uri: "/", body: Buffer.alloc(0), origin: "bob.example", destination: "alice.example" }))!;
    const b = parseAuthHeader(signRequest(key, { method: "GET", uri: "/", body: Buffer.alloc(0), origin: "bob.example", destination: "alice.example" }))!;
    expect(a.nonce).not.toBe(b.nonce);
    expect(Buffer.from(a.nonce, "base64url")).toHaveLength(16);
    expect(Math.abs(a.ts - Date.now())).toBeLessThan(60_000);
  });
});

describe("request form bytes: canonicalBytes' one-pass path over every spelling a request carries (spec §3.1, §5.3)", () => {
  const unsigned: Omit<RequestAuth, "sig"> = { origin: "bob.example", destination: "alice.example:8448", keyId: key.keyId, ts: 1767225600000, nonce: NONCE };
  const uris = [
    "/federation/v1/call", "/", "", "/a/%21b%3Ac?x=%2F&y=1", '/q?"quoted"\\back', "/ctl\u0000\u001f\u007f", "/latin-\u00e9\u00ff",
    "/emoji-\ud83d\ude00", "/line\u2028sep\u2029", "/</script>", "/tab\tnl\n",
  ];
  const reference = canonicalize as (v: unknown) => string | undefined;

  it("JCS-13: the signed form's bytes equal the canonicalize package's text for every method, uri and body spelling", () => {
    for (const uri of uris) {
      for (const method of ["POST", "put", "GET"]) {
        const form = requestForm(unsigned, { method, uri, body: Buffer.from(uri) });
        expect(canonicalBytes(form).toString("utf8"), uri).toBe(reference(form));
      }
    }
  });

  it("JCS-04: a form with an unpaired surrogate or an unsafe integer has no bytes (refused)", () => {
    for (const form of [{ purpose: "x", uri: "/\ud800" }, { purpose: "x", uri: "/\udc00x" }, { purpose: "x", ts: 2 ** 60 }, { "\ud800": "x" }]) {
      expect(() => canonicalBytes(form)).toThrow();
    }
  });

  it("SIGN-12: a request signed over any of those uris verifies, and an unpaired surrogate in it never does", () => {
    const vk = verifyKeyOf(key);
    for (const uri of uris) {
      const parts = { method: "POST", uri, body: Buffer.from("{}") };
      const auth = parseAuthHeader(signRequest(key, { ...parts, origin: unsigned.origin, destination: unsigned.destination }))!;
      expect(verifyRequestSignature(vk, auth, parts), uri).toBe(true);
      expect(verifyForm(vk, requestForm(auth, parts), auth.sig), uri).toBe(true);
    }
    const good = parseAuthHeader(signRequest(key, { method: "POST", uri: "/x", body: Buffer.alloc(0), origin: unsigned.origin, destination: unsigned.destination }))!;
    expect(verifyRequestSignature(vk, good, { method: "POST", uri: "/\ud800", body: Buffer.alloc(0) })).toBe(false);
  });
});
