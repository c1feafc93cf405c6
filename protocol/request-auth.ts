// Protocol primitive (all federation endpoints): the receiver's request-authentication steps in spec order (spec §5.6).
import { SmcpError } from "./errors.ts";
import type { VerifyKey } from "./keys.ts";
import { parseAuthHeader, verifyRequestSignature, type RequestAuth, type SignedRequestParts } from "./signing.ts";

export interface AuthContext {
  /** The receiver's own server name: requests for any other destination are refused. */
  self: string;
  now: () => number;
  maxSkewMs: number;
  /** Resolves an origin's key; null when the origin or key ID is unknown or unreachable. */
  lookupKey: (origin: string, keyId: string) => Promise<VerifyKey | null>;
  replay: ReplayCache;
  /** Requests signed before this instant are refused: the replay cache does not survive a restart (spec §5.8). */
  notBefore: number;
}

/**
 * Runs spec §5.6 steps 1-6 and returns the authenticated header, or throws the SmcpError that the
 * first failing step names. Step 7 (body origin) is checked by the caller once the body is parsed.
 */
export async function authenticateRequest(
  ctx: AuthContext,
  header: string | undefined,
  parts: SignedRequestParts,
): Promise<RequestAuth> {
  if (header === undefined) throw new SmcpError("SMCP_UNAUTHORIZED", "X-SMCP-Authorization header missing");
  const auth = parseAuthHeader(header);
  if (!auth) throw new SmcpError("SMCP_UNAUTHORIZED", "X-SMCP-Authorization does not match the grammar of spec §5.2");
  if (auth.destination !== ctx.self) {
    throw new SmcpError("SMCP_WRONG_DESTINATION", `request is for ${auth.destination}, this is ${ctx.self}`);
  }
  const now = ctx.now();
  if (Math.abs(now - auth.ts) > ctx.maxSkewMs) {
    throw new SmcpError("SMCP_BAD_TIMESTAMP", `ts ${auth.ts} is more than ${ctx.maxSkewMs} ms from ${now}`);
  }
  if (auth.ts < ctx.notBefore) {
    throw new SmcpError("SMCP_BAD_TIMESTAMP", `ts ${auth.ts} predates this instance's replay window`);
  }
  const key = await ctx.lookupKey(auth.origin, auth.keyId);
  if (!key) throw new SmcpError("SMCP_UNKNOWN_KEY", `no key ${auth.keyId} known for ${auth.origin}`);
  if (!verifyRequestSignature(key, auth, parts)) {
    throw new SmcpError("SMCP_BAD_SIGNATURE", "signature does not verify over the request's signed form");
  }
  const recorded = ctx.replay.add(auth.origin, auth.nonce, auth.ts + ctx.maxSkewMs * 2, now);
  if (recorded === "replay") throw new SmcpError("SMCP_REPLAY", `nonce ${auth.nonce} from ${auth.origin} was already used`);
  if (recorded === "full") {
    throw new SmcpError("SMCP_RATE_LIMITED", "replay cache full; retry later", { retryAfterMs: 1000 });
  }
  return auth;
}

/** Step 7: a body's `origin` must be the signer (closes body-origin spoofing, spec §5.6). */
export function assertBodyOrigin(auth: RequestAuth, body: unknown): void {
  if (body && typeof body === "object" && "origin" in body && (body as { origin: unknown }).origin !== auth.origin) {
    throw new SmcpError("SMCP_ORIGIN_MISMATCH", `body origin ${(body as { origin: unknown }).origin} is not the signer ${auth.origin}`);
  }
}

/**
 * Nonces seen within the acceptance window. Bounded without ever forgetting a live nonce: when full it
 * refuses new requests (as rate limiting) instead of evicting, so a replay can never slip through.
 */
export class ReplayCache {
  private readonly seen = new Map<string, number>();

  constructor(private readonly maxEntries = 1_000_000) {}

  add(origin: string, nonce: string, expiresAt: number, now: number): "ok" | "replay" | "full" {
    this.evictExpired(now);
    const key = `${origin} ${nonce}`;
    const expiry = this.seen.get(key);
    if (expiry !== undefined && expiry > now) return "replay";
    if (this.seen.size >= this.maxEntries) return "full";
    this.seen.set(key, expiresAt);
    return "ok";
  }

  private evictExpired(now: number): void {
    for (const [key, expiry] of this.seen) {
      if (expiry > now) return;
      this.seen.delete(key);
    }
  }
}
