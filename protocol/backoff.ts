// Protocol primitive (all components, reference and harness): exponential back-off with jitter (spec §6.3 DISC-17, §8.6 TXN-31).
//
// The spec states each schedule as a floor (the doubling value: never retry sooner) and a ceiling (`maxMs`).
// Jitter only ever adds, within that band, so that peers that failed together do not retry in lock-step and no
// sender ever retries sooner than the spec allows. At the ceiling the band is empty: the spec leaves no room.

export interface BackoffSchedule {
  /** Wait after the first consecutive failure. */
  baseMs: number;
  /** No wait is longer than this. */
  maxMs: number;
  /** Largest fraction of the doubling value added at random (default 0.2: 250 ms becomes 250–300 ms). */
  jitter?: number;
}

/** The default jitter fraction. */
export const DEFAULT_JITTER = 0.2;

/** A random source in [0, 1); tests inject a fixed or seeded one so that every delay is known. */
export type RandomSource = () => number;

/**
 * The wait before the next attempt after `failures` consecutive failures (1 = the first): `baseMs` doubled
 * `failures - 1` times, capped at `maxMs`, plus up to `jitter` of itself, never above `maxMs`. 0 when nothing failed.
 */
export function backoffDelay(failures: number, schedule: BackoffSchedule, random: RandomSource = Math.random): number {
  if (!(failures >= 1)) return 0;
  const floor = Math.min(schedule.maxMs, schedule.baseMs * 2 ** Math.min(failures - 1, 52));
  const ceiling = Math.min(schedule.maxMs, floor * (1 + Math.max(0, schedule.jitter ?? DEFAULT_JITTER)));
  return Math.floor(floor + (ceiling - floor) * unit(random()));
}

/** Clamps a random draw into [0, 1): a broken source can shift a delay inside its band, never outside it. */
function unit(x: number): number {
  return Number.isFinite(x) ? Math.min(Math.max(x, 0), 1 - Number.EPSILON) : 0;
}

/** A small deterministic generator (mulberry32) for tests and reproducible runs: the same seed, the same delays. */
export function seededRandom(seed: number): RandomSource {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
