// Tests of a protocol primitive (all federation endpoints): the receiver's authentication steps, in spec order,
// each failing with its own error code (spec §5.6), and the bounded replay cache (spec §5.8).
import { describe, expect, it } from "vitest";
import { encodeBase64Url } from "./base64url.ts";
import { SmcpError, type ErrorCode } from "./errors.ts";
import { signingKeyFromSeed, verifyKeyOf, type VerifyKey } from "./keys.ts";
import { assertBodyOrigin, authenticateRequest, ReplayCache, type AuthContext } from "./request-auth.ts";
import { parseAuthHeader, signRequest } from "./signing.ts";

const NOW = 1_767_225_600_000;
const bobKey = signingKeyFromSeed(Buffer.alloc(32, 0xb0));
const carolKey = signingKeyFromSeed(Buffer.alloc(32, 0xc0));
const PARTS = { method: "PUT", uri: "/federation/v1/send/txn-1", body: Buffer.from('{"origin":"bob.example","origin_ts":1}') };

function context(over: Partial<AuthContext> = {}): AuthContext & { lookups: string[] } {
  const lookups: string[] = [];
  const keys: Record<string, VerifyKey> = { "bob.example": verifyKeyOf(bobKey) };
  return {
    self: "alice.example",
    now: () => NOW,
    maxSkewMs: 60_000,
    notBefore: 0,
    replay: new ReplayCache(),
    lookupKey: async (origin, keyId) => {
      lookups.push(`${origin} ${keyId}`);
      const key = keys[origin];
      return key && key.keyId === keyId ? key : null;
    },
    lookups,
    ...over,
  };
}

let counter = 0;
function header(over: { origin?: string; destination?: string; ts?: number; nonce?: string; key?: typeof bobKey } = {}): string {
  return signRequest(over.key ?? bobKey, {
    ...PARTS,
    origin: over.origin ?? "bob.example",
    destination: over.destination ?? "alice.example",
    ts: over.ts ?? NOW,
    nonce: over.nonce ?? encodeBase64Url(Buffer.alloc(16, ++counter % 256)),
  });
}

async function failure(promise: Promise<unknown>): Promise<SmcpError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof SmcpError) return err;
    throw err;
  }
  throw new Error("expected the request to be refused");
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode, status: number): Promise<SmcpError> {
  const err = await failure(promise);
  expect(err.errcode).toBe(code);
  expect(err.status).toBe(status);
  return err;
}

describe("request authentication (spec §5.6)", () => {
  it("SIGN-02: a correctly signed request is accepted and its header fields returned", async () => {
    const auth = await authenticateRequest(context(), header(), PARTS);
    expect(auth).toMatchObject({ origin: "bob.example", destination: "alice.example", keyId: bobKey.keyId, ts: NOW });
  });

  it("SIGN-07 (check 3): a missing header is SMCP_UNAUTHORIZED (401)", async () => {
    await expectCode(authenticateRequest(context(), undefined, PARTS), "SMCP_UNAUTHORIZED", 401);
  });

  it("SIGN-06 (check 3): a header off the grammar is SMCP_UNAUTHORIZED (401)", async () => {
    await expectCode(authenticateRequest(context(), header().replace("SMCP-Ed25519", "smcp-ed25519"), PARTS), "SMCP_UNAUTHORIZED", 401);
    await expectCode(authenticateRequest(context(), header() + " ", PARTS), "SMCP_UNAUTHORIZED", 401);
  });

  it("SIGN-31 (check 4): a request for another destination is SMCP_WRONG_DESTINATION (401)", async () => {
    await expectCode(authenticateRequest(context(), header({ destination: "carol.example" }), PARTS), "SMCP_WRONG_DESTINATION", 401);
  });

  it("SIGN-25 (check 5): ts more than the skew window away is SMCP_BAD_TIMESTAMP; exactly the window is accepted", async () => {
    await expectCode(authenticateRequest(context(), header({ ts: NOW - 60_001 }), PARTS), "SMCP_BAD_TIMESTAMP", 401);
    await expectCode(authenticateRequest(context(), header({ ts: NOW + 60_001 }), PARTS), "SMCP_BAD_TIMESTAMP", 401);
    await expect(authenticateRequest(context(), header({ ts: NOW - 60_000 }), PARTS)).resolves.toBeDefined();
    await expect(authenticateRequest(context(), header({ ts: NOW + 60_000 }), PARTS)).resolves.toBeDefined();
  });

  it("SIGN-42 (check 5): a request signed before the instance's replay window began is SMCP_BAD_TIMESTAMP (spec §5.8)", async () => {
    await expectCode(authenticateRequest(context({ notBefore: NOW - 10 }), header({ ts: NOW - 20 }), PARTS), "SMCP_BAD_TIMESTAMP", 401);
  });

  it("SIGN-32 (check 6): an origin or key_id with no known key is SMCP_UNKNOWN_KEY, looked up by (origin, key_id)", async () => {
    const ctx = context();
    await expectCode(authenticateRequest(ctx, header({ origin: "carol.example", key: carolKey }), PARTS), "SMCP_UNKNOWN_KEY", 401);
    expect(ctx.lookups).toEqual([`carol.example ${carolKey.keyId}`]);
    // bob.example's name, carol's key: the key_id does not match bob's key.
    await expectCode(authenticateRequest(context(), header({ key: carolKey }), PARTS), "SMCP_UNKNOWN_KEY", 401);
  });

  it("SIGN-33 (check 7): a signature that does not cover these bytes is SMCP_BAD_SIGNATURE", async () => {
    await expectCode(authenticateRequest(context(), header(), { ...PARTS, body: Buffer.from('{"origin":"bob.example","origin_ts":2}') }), "SMCP_BAD_SIGNATURE", 401);
    await expectCode(authenticateRequest(context(), header(), { ...PARTS, uri: PARTS.uri + "?x=1" }), "SMCP_BAD_SIGNATURE", 401);
    // A valid signature from another request of the same signer, spliced into this header.
    const [mine, theirs] = [header(), header()];
    const forged = mine.replace(parseAuthHeader(mine)!.sig, parseAuthHeader(theirs)!.sig);
    expect(forged).not.toBe(mine);
    await expectCode(authenticateRequest(context(), forged, PARTS), "SMCP_BAD_SIGNATURE", 401);
  });

  it("SIGN-38 (check 8): the same (origin, nonce) twice is SMCP_REPLAY; a fresh nonce is fine", async () => {
    const ctx = context();
    const h = header();
    await authenticateRequest(ctx, h, PARTS);
    await expectCode(authenticateRequest(ctx, h, PARTS), "SMCP_REPLAY", 401);
    await expect(authenticateRequest(ctx, header(), PARTS)).resolves.toBeDefined();
  });

  it("SIGN-39 (check 8): a nonce is recorded only after the signature verified, so a forgery cannot burn it", async () => {
    const ctx = context();
    const nonce = encodeBase64Url(Buffer.alloc(16, 0xee));
    const good = header({ nonce });
    const forged = good.replace(parseAuthHeader(good)!.sig, parseAuthHeader(header())!.sig);
    expect(forged).not.toBe(good);
    await expectCode(authenticateRequest(ctx, forged, PARTS), "SMCP_BAD_SIGNATURE", 401);
    await expect(authenticateRequest(ctx, good, PARTS)).resolves.toBeDefined();
  });

  it("SIGN-41 (check 8): a full replay cache refuses with SMCP_RATE_LIMITED (429) and a retry delay instead of forgetting nonces", async () => {
    const ctx = context({ replay: new ReplayCache(2) });
    await authenticateRequest(ctx, header(), PARTS);
    await authenticateRequest(ctx, header(), PARTS);
    const err = await expectCode(authenticateRequest(ctx, header(), PARTS), "SMCP_RATE_LIMITED", 429);
    expect(err.extra.retryAfterMs).toBeGreaterThan(0);
    expect(err.toBody()).toMatchObject({ errcode: "SMCP_RATE_LIMITED", retry_after_ms: err.extra.retryAfterMs });
  });

  it("SIGN-28: the first failing check decides the code (spec §5.6 order)", async () => {
    // wrong destination + stale ts + unknown key → step 2
    await expectCode(authenticateRequest(context(), header({ destination: "x.example", ts: NOW - 999_999, origin: "carol.example", key: carolKey }), PARTS), "SMCP_WRONG_DESTINATION", 401);
    // stale ts + unknown key → step 3
    await expectCode(authenticateRequest(context(), header({ ts: NOW - 999_999, origin: "carol.example", key: carolKey }), PARTS), "SMCP_BAD_TIMESTAMP", 401);
    // unknown key + body changed → step 4
    await expectCode(authenticateRequest(context(), header({ origin: "carol.example", key: carolKey }), { ...PARTS, body: Buffer.alloc(0) }), "SMCP_UNKNOWN_KEY", 401);
    // replayed nonce + bad signature → step 5 (the replay check comes after the signature)
    const ctx = context();
    const h = header();
    await authenticateRequest(ctx, h, PARTS);
    await expectCode(authenticateRequest(ctx, h, { ...PARTS, body: Buffer.alloc(0) }), "SMCP_BAD_SIGNATURE", 401);
  });
});

describe("body origin (spec §5.6 step 7)", () => {
  const auth = { origin: "bob.example", destination: "alice.example", keyId: bobKey.keyId, ts: NOW, nonce: "A".repeat(22), sig: "A".repeat(86) };

  it("SIGN-35 (check 10): a body whose origin is not the signer is SMCP_ORIGIN_MISMATCH (403)", () => {
    let caught: unknown;
    try {
      assertBodyOrigin(auth, { origin: "carol.example" });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SmcpError);
    expect((caught as SmcpError).errcode).toBe("SMCP_ORIGIN_MISMATCH");
    expect((caught as SmcpError).status).toBe(403);
  });

  it("SIGN-35 (check 10): a matching origin, or a body without one, passes", () => {
    expect(() => assertBodyOrigin(auth, { origin: "bob.example", x: 1 })).not.toThrow();
    expect(() => assertBodyOrigin(auth, { channel: "!a:alice.example" })).not.toThrow();
    expect(() => assertBodyOrigin(auth, undefined)).not.toThrow();
  });
});

describe("replay cache (spec §5.8)", () => {
  it("SIGN-40: remembers a nonce until it expires, per origin", () => {
    const cache = new ReplayCache();
    expect(cache.add("bob.example", "n1", 1_000, 0)).toBe("ok");
    expect(cache.add("bob.example", "n1", 1_000, 999)).toBe("replay");
    expect(cache.add("carol.example", "n1", 1_000, 999)).toBe("ok");
    expect(cache.add("bob.example", "n1", 3_000, 1_000)).toBe("ok");
  });

  it("SIGN-41: when full it refuses instead of evicting live nonces, and frees space as entries expire", () => {
    const cache = new ReplayCache(2);
    expect(cache.add("o", "a", 100, 0)).toBe("ok");
    expect(cache.add("o", "b", 200, 0)).toBe("ok");
    expect(cache.add("o", "c", 300, 50)).toBe("full");
    expect(cache.add("o", "a", 300, 50)).toBe("replay");
    expect(cache.add("o", "c", 300, 100)).toBe("ok");
  });
});

describe("replay cache shares (spec §5.8 SIGN-49, issue 10 finding 9)", () => {
  it("SIGN-49: an origin that fills its share is refused alone; another origin's nonces are neither evicted nor refused", () => {
    const cache = new ReplayCache(100, 10);
    for (let i = 0; i < 10; i++) expect(cache.add("mallory.example", `m${i}`, 1_000, 0)).toBe("ok");
    let refused = 0;
    for (let i = 10; i < 1000; i++) if (cache.add("mallory.example", `m${i}`, 1_000, 0) === "full") refused++;
    expect(refused).toBe(990);
    expect(cache.sizeOf("mallory.example")).toBe(10);
    for (let i = 0; i < 10; i++) expect(cache.add("bob.example", `b${i}`, 1_000, 0)).toBe("ok");
    expect(cache.add("bob.example", "b0", 1_000, 1)).toBe("replay");
    // Expired entries give the share back.
    expect(cache.add("mallory.example", "late", 3_000, 1_000)).toBe("ok");
    expect(cache.sizeOf("mallory.example")).toBe(1);
  });

  it("SIGN-41: the total bound still holds across many origins", () => {
    const cache = new ReplayCache(20, 10);
    for (let o = 0; o < 2; o++) for (let i = 0; i < 10; i++) expect(cache.add(`o${o}.example`, `n${i}`, 1_000, 0)).toBe("ok");
    expect(cache.add("o2.example", "n", 1_000, 0)).toBe("full");
    expect(cache.add("o2.example", "n", 3_000, 1_000)).toBe("ok");
  });
});
