// Logging of the reference instance's HTTP edge and Paulina (spec §5.7 RATE-14, issue 10 "logs have no rate limit"): log lines per key are
// token-bucket limited, so a flood of bad requests cannot flood the log; suppressed lines are counted, not lost silently.

interface Bucket {
  tokens: number;
  last: number;
  suppressed: number;
}

/** Distinct keys tracked at once; the oldest bucket is dropped beyond this (an address flood cannot grow it). */
const MAX_KEYS = 4096;

export class LogLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly perSecond = 20,
    private readonly burst = 100,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Whether a line under `key` may be written now. Returns the number of lines suppressed under that key since the
   * last one written (to log with it), or -1 when this one is suppressed too.
   */
  take(key: string): number {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= MAX_KEYS) this.buckets.delete(this.buckets.keys().next().value!);
      bucket = { tokens: this.burst, last: now, suppressed: 0 };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.last) * this.perSecond) / 1000);
    bucket.last = now;
    if (bucket.tokens < 1) {
      bucket.suppressed++;
      return -1;
    }
    bucket.tokens -= 1;
    const suppressed = bucket.suppressed;
    bucket.suppressed = 0;
    return suppressed;
  }
}
