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

/** Default bounds of the replay cache: all origins together, and one origin's share (SIGN-41, SIGN-49). */
export const REPLAY_CACHE_ENTRIES = 1_000_000;
/** Above what one origin can use inside the default rate limit (200/s sustained over 2W = 120 s, plus the burst). */
export const REPLAY_CACHE_PER_ORIGIN = 32_768;

/**
 * Nonces seen within the acceptance window. Bounded without ever forgetting a live nonce: when full it refuses new
 * requests (as rate limiting) instead of evicting, so a replay can never slip through. Each origin has its own
 * bounded share (SIGN-49): one origin filling its share is refused alone, and cannot crowd out another's nonces.
 */
export class ReplayCache {
  private readonly byOrigin = new Map<string, Map<string, number>>();
  private total = 0;

  constructor(
    private readonly maxEntries = REPLAY_CACHE_ENTRIES,
    private readonly maxPerOrigin = Math.min(REPLAY_CACHE_PER_ORIGIN, maxEntries),
  ) {}

  add(origin: string, nonce: string, expiresAt: number, now: number): "ok" | "replay" | "full" {
    let seen = this.byOrigin.get(origin);
    if (seen) this.evictExpired(origin, seen, now);
    seen = this.byOrigin.get(origin);
    const expiry = seen?.get(nonce);
    if (expiry !== undefined && expiry > now) return "replay";
    if (seen && seen.size >= this.maxPerOrigin) return "full";
    if (this.total >= this.maxEntries) {
      for (const [o, m] of this.byOrigin) this.evictExpired(o, m, now);
      if (this.total >= this.maxEntries) return "full";
    }
    if (!seen) this.byOrigin.set(origin, (seen = new Map()));
    seen.set(nonce, expiresAt);
    this.total++;
    return "ok";
  }

  /** Entries held for `origin` (tests and metrics). */
  sizeOf(origin: string): number {
    return this.byOrigin.get(origin)?.size ?? 0;
  }

  /** Expiries grow with insertion within one origin (ts is bound to now ± W), so the scan stops at the first live one. */
  private evictExpired(origin: string, seen: Map<string, number>, now: number): void {
    for (const [nonce, expiry] of seen) {
      if (expiry > now) break;
      seen.delete(nonce);
      this.total--;
    }
    if (seen.size === 0) this.byOrigin.delete(origin);
  }
}
