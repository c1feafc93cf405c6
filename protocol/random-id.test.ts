// Tests of the shared random identifiers (spec §5.2 nonces, §10 call IDs): length, alphabet, no repeats.
import { describe, expect, it } from "vitest";
import { decodeBase64Url } from "./base64url.ts";
import { randomId } from "./random-id.ts";

describe("randomId", () => {
  it("SIGN-09: 16 bytes from the CSPRNG by default as unpadded base64url that decodes back to 16 bytes (spec §5.2, JCS-12)", () => {
    const id = randomId();
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(decodeBase64Url(id, 16)).not.toBeNull();
  });

  it("hex on request, of the asked length; 10 000 draws never repeat", () => {
    expect(randomId(32, "hex")).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set(Array.from({ length: 10_000 }, () => randomId(12))).size).toBe(10_000);
  });
});

describe("randomId from the pool", () => {
  it("SIGN-09: identifiers cut from successive pool fills are all distinct, of the asked length, and never all-zero", () => {
    // 4096-byte pool / 16 bytes: 2 000 draws cross several refills, each refill boundary included.
    const ids = Array.from({ length: 2_000 }, (_, i) => randomId(i % 3 === 0 ? 12 : 16));
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{16}$|^[A-Za-z0-9_-]{22}$/);
    expect(ids).not.toContain("AAAAAAAAAAAAAAAAAAAAAA");
  });

  it("sizes past the pooled bound (secrets) and the boundary size itself both work", () => {
    expect(randomId(32, "hex")).toMatch(/^[0-9a-f]{64}$/);
    expect(decodeBase64Url(randomId(17), 17)).not.toBeNull();
    expect(decodeBase64Url(randomId(16), 16)).not.toBeNull();
  });
});
