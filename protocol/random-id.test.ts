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
