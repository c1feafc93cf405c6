// Tests of the shared back-off (spec §6.3 DISC-17, §8.6 TXN-31): the spec's floor and ceiling hold whatever the random source says.
import { describe, expect, it } from "vitest";
import { backoffDelay, seededRandom } from "./backoff.ts";
import { DISCOVERY_FAILURE_BACKOFF, TXN_RETRY_BACKOFF } from "./limits.ts";

const never = () => 0;
const almostOne = () => 0.999999;

describe("backoffDelay", () => {
  it("TXN-31: 250 ms after the first failure, doubling, at most 30 s, when the draw adds nothing (spec §8.6)", () => {
    const delays = Array.from({ length: 10 }, (_, i) => backoffDelay(i + 1, TXN_RETRY_BACKOFF, never));
    expect(delays).toEqual([250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it("DISC-17: discovery failures wait 1 s, doubling, never more than 1 hour (spec §6.3)", () => {
    expect([1, 2, 3, 12, 13, 500].map((n) => backoffDelay(n, DISCOVERY_FAILURE_BACKOFF, never))).toEqual([1000, 2000, 4000, 2_048_000, 3_600_000, 3_600_000]);
  });

  it("TXN-31: jitter only adds, up to 20 % by default, and never crosses the ceiling (spec §8.6)", () => {
    expect([1, 2, 7, 8].map((n) => backoffDelay(n, TXN_RETRY_BACKOFF, almostOne))).toEqual([299, 599, 19199, 30000]);
    const random = seededRandom(7);
    for (let failures = 1; failures <= 40; failures++) {
      for (let i = 0; i < 50; i++) {
        const floor = Math.min(30_000, 250 * 2 ** (failures - 1));
        const d = backoffDelay(failures, TXN_RETRY_BACKOFF, random);
        expect(d).toBeGreaterThanOrEqual(floor);
        expect(d).toBeLessThanOrEqual(Math.min(30_000, floor * 1.2));
      }
    }
  });

  it("TXN-31: below the ceiling, draws spread retries of peers that failed together (spec §8.6)", () => {
    const random = seededRandom(42);
    const spread = new Set(Array.from({ length: 100 }, () => backoffDelay(3, TXN_RETRY_BACKOFF, random)));
    expect(spread.size).toBeGreaterThan(50);
    expect(Math.min(...spread)).toBeGreaterThanOrEqual(1000);
    expect(Math.max(...spread)).toBeLessThan(1200);
  });

  it("the same seed gives the same delays; a different seed different ones", () => {
    const run = (seed: number) => { const r = seededRandom(seed); return Array.from({ length: 20 }, (_, i) => backoffDelay((i % 6) + 1, TXN_RETRY_BACKOFF, r)); };
    expect(run(1)).toEqual(run(1));
    expect(run(1)).not.toEqual(run(2));
  });

  it("a custom jitter, jitter 0, no failures, and a broken random source stay inside the band", () => {
    expect(backoffDelay(1, { baseMs: 100, maxMs: 1000, jitter: 0.5 }, almostOne)).toBe(149);
    expect(backoffDelay(4, { baseMs: 100, maxMs: 1000, jitter: 0 }, almostOne)).toBe(800);
    expect(backoffDelay(0, TXN_RETRY_BACKOFF, almostOne)).toBe(0);
    expect(backoffDelay(Number.NaN, TXN_RETRY_BACKOFF, almostOne)).toBe(0);
    for (const bad of [-5, 7, Number.NaN, Number.POSITIVE_INFINITY]) {
      const d = backoffDelay(1, TXN_RETRY_BACKOFF, () => bad);
      expect(d, String(bad)).toBeGreaterThanOrEqual(250);
      expect(d, String(bad)).toBeLessThanOrEqual(300);
    }
    expect(backoffDelay(10_000, TXN_RETRY_BACKOFF, almostOne)).toBe(30_000);
  });
});
