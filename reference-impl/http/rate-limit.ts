// HTTP edge of the reference instance (all federation endpoints): token buckets per origin, per key, per client address,
// and the unauthenticated-work budget per client address (spec §5.7 RATE-01, RATE-10, RATE-13).
import { SmcpError } from "../../protocol/errors.ts";

interface Bucket {
  tokens: number;
  last: number;
}

/** Buckets kept at once; beyond it, full buckets (the same as none) and then the stalest are dropped. */
const MAX_BUCKETS = 65_536;

/** Token bucket per key: `perSecond` sustained, `burst` at most at once. */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
    /** Names what is limited in the error message, e.g. "origin". */
    private readonly what = "origin",
  ) {}

  /** Takes one token for `key`, or throws 429 SMCP_RATE_LIMITED saying when the next token is due. */
  take(key: string): void {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (bucket) this.buckets.delete(key); // re-inserted below: the map stays in least-recently-used order
    else bucket = { tokens: this.burst, last: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.last) * this.perSecond) / 1000);
    bucket.last = now;
    this.buckets.set(key, bucket);
    if (this.buckets.size > MAX_BUCKETS) this.prune(now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return;
    }
    const retryAfterMs = Math.max(1, Math.ceil(((1 - bucket.tokens) * 1000) / this.perSecond));
    throw new SmcpError("SMCP_RATE_LIMITED", `more than ${this.perSecond}/s from ${this.what} ${key}`, { retryAfterMs });
  }

  /** Buckets tracked (tests: the bound holds under a flood of keys). */
  get size(): number {
    return this.buckets.size;
  }

  private prune(now: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.last) * this.perSecond) / 1000 >= this.burst) this.buckets.delete(key);
    }
    // Still over: drop the least recently used; a dropped bucket restarts full, which favours the client by one burst.
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= MAX_BUCKETS) break;
      this.buckets.delete(key);
    }
  }
}

/**
 * RATE-13 (RATE-09 made binding): discoveries of names the operator did not map, made for requests that have not verified yet, per client
 * address: a burst of 32, then 2 per second. Each is an outbound connection someone else chose.
 */
export const UNAUTHENTICATED_BUDGET = { perSecond: 2, burst: 32 } as const;

/** One client address carries many origins (a host, a NAT, the conformance harness): its bucket is this much larger. */
export const ADDRESS_RATE_FACTOR = 8;

/**
 * RATE-01 and RATE-10: every authenticated request takes a token from its origin's, its key's and its client
 * address's bucket; many names sharing a key, or many keys on one address, share their limit.
 */
export class FederationLimits {
  private readonly byOrigin: RateLimiter;
  private readonly byKey: RateLimiter;
  private readonly byAddress: RateLimiter;

  constructor(perSecond: number, burst: number, now: () => number = Date.now, addressFactor = ADDRESS_RATE_FACTOR) {
    this.byOrigin = new RateLimiter(perSecond, burst, now, "origin");
    this.byKey = new RateLimiter(perSecond, burst, now, "key");
    this.byAddress = new RateLimiter(perSecond * addressFactor, burst * addressFactor, now, "client address");
  }

  take(origin: string, keyId: string, address: string): void {
    this.byAddress.take(address);
    this.byKey.take(keyId);
    this.byOrigin.take(origin);
  }

  /** A forwarded call takes a token from its envelope origin's bucket too (spec §10.6 FWD-14). */
  takeOrigin(origin: string): void {
    return this.byOrigin.take(origin);
  }
}
