// HTTP edge of the reference instance (all federation endpoints): per-origin token buckets (spec §5.7).
import { SmcpError } from "../../protocol/errors.ts";

interface Bucket {
  tokens: number;
  last: number;
}

/** Token bucket per authenticated origin: `perSecond` sustained, `burst` at most at once. */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token for `origin`, or throws 429 SMCP_RATE_LIMITED saying when the next token is due. */
  take(origin: string): void {
    const now = this.now();
    const bucket = this.buckets.get(origin) ?? { tokens: this.burst, last: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.last) * this.perSecond) / 1000);
    bucket.last = now;
    this.buckets.set(origin, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return;
    }
    const retryAfterMs = Math.max(1, Math.ceil(((1 - bucket.tokens) * 1000) / this.perSecond));
    throw new SmcpError("SMCP_RATE_LIMITED", `more than ${this.perSecond}/s from ${origin}`, { retryAfterMs });
  }
}
