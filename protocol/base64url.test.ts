// Tests of a protocol primitive (all components): strict unpadded base64url (spec §3.2).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeBase64Url, encodeBase64Url } from "./base64url.ts";

describe("base64url (spec §3.2: RFC 4648 §5 without padding, canonical only)", () => {
  it("JCS-10: encodes without padding in the URL-safe alphabet", () => {
    expect(encodeBase64Url(Buffer.from([0xfb, 0xff, 0xbf]))).toBe("-_-_");
    expect(encodeBase64Url(Buffer.from([0xff]))).toBe("_w");
    expect(encodeBase64Url(new Uint8Array(0))).toBe("");
  });

  it("JCS-10: encodes only the bytes of a view, not the whole underlying buffer", () => {
    const whole = Buffer.from([1, 2, 3, 4, 5]);
    expect(encodeBase64Url(whole.subarray(1, 3))).toBe(encodeBase64Url(Buffer.from([2, 3])));
  });

  it("JCS-10/JCS-11: every byte string round-trips (property, fixed seed)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        const text = encodeBase64Url(bytes);
        expect(text).toMatch(/^[A-Za-z0-9_-]*$/);
        expect(decodeBase64Url(text)?.equals(Buffer.from(bytes))).toBe(true);
      }),
      { seed: 8032, numRuns: 300 },
    );
  });

  it("JCS-11: rejects padding (spec §3.2)", () => {
    for (const text of ["AA==", "AAA=", "AAAA=", "_w=="]) expect(decodeBase64Url(text), text).toBeNull();
  });

  it("JCS-11: rejects the standard alphabet's + and / (spec §3.2)", () => {
    for (const text of ["+/+/", "AA+A", "AA/A"]) expect(decodeBase64Url(text), text).toBeNull();
  });

  it("JCS-11: rejects whitespace and other characters anywhere", () => {
    for (const text of [" AAAA", "AAAA ", "AA AA", "AAAA\n", "\tAAAA", "AA.A", "AAé", "AA%3D"]) expect(decodeBase64Url(text), JSON.stringify(text)).toBeNull();
  });

  it("JCS-11: rejects impossible lengths (4n+1 characters)", () => {
    for (const text of ["A", "AAAAA", "AAAAAAAAA"]) expect(decodeBase64Url(text), text).toBeNull();
  });

  it("JCS-11: rejects non-canonical trailing bits, so one value has exactly one spelling (spec §3.2)", () => {
    expect(decodeBase64Url("AA")?.toString("hex")).toBe("00");
    for (const text of ["AB", "AP", "AAB", "AAC", "_x"]) expect(decodeBase64Url(text), text).toBeNull();
    expect(decodeBase64Url("AAE")?.toString("hex")).toBe("0001");
  });

  it("JCS-12: enforces the expected byte length when one is given", () => {
    const sig = encodeBase64Url(new Uint8Array(64).fill(7));
    expect(decodeBase64Url(sig, 64)?.length).toBe(64);
    expect(decodeBase64Url(sig, 32)).toBeNull();
    expect(decodeBase64Url(sig.slice(0, 84), 64)).toBeNull();
    expect(decodeBase64Url("", 0)?.length).toBe(0);
  });
});
