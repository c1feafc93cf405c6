// Conformance harness, fake peer: how it answers the transactions instances send it — delays, planned failures, concurrency tracking (spec §6.5, TXN-29, ERR-06).
import { SmcpError, type ErrorCode } from "../../protocol/errors.ts";

/** How the fake answers the transactions instances send it; changed by checks at run time. */
export interface SendBehaviour {
  /** Delay before answering each transaction (makes concurrency and batching observable). */
  answerDelayMs: number;
  /** Answer this many coming transactions with `failWith` instead of processing them. */
  failNext: number;
  failWith: { errcode: ErrorCode; retryAfterMs?: number };
  /** Instead of `failWith`, answer these literal status/body pairs in turn (unknown errcodes, non-Error bodies: ERR-06). */
  failRaw?: Array<{ status: number; body: unknown }>;
  /**
   * Holds the next transaction unanswered until `until` settles, then fails it without processing it (its sender
   * is meant to be killed meanwhile: a transaction cut by a crash); later ones pass. `arrived` gets its origin.
   */
  hold?: { until: Promise<void>; arrived: string[]; onArrive?: (origin: string) => void };
}

/**
 * Applies the current send behaviour around each transaction and tracks transactions in flight per origin. A patch
 * for one origin applies to that origin's transactions only, so that checks of two instances can run side by side.
 */
export class SendGate {
  readonly behaviour: SendBehaviour = { answerDelayMs: 0, failNext: 0, failWith: { errcode: "SMCP_INTERNAL" } };
  /** The most transactions ever in flight at once, per origin (TXN-29: at most one). */
  readonly maxInFlight = new Map<string, number>();
  private readonly inFlight = new Map<string, number>();
  /** Behaviour patched for one origin: replaces the common one for its transactions while set. */
  private readonly perOrigin = new Map<string, SendBehaviour>();

  /** Runs `fn` with `patch` applied to how transactions (of `origin` only, when given) are answered, then restores the previous behaviour. */
  async with<T>(patch: Partial<SendBehaviour>, fn: () => Promise<T>, origin?: string): Promise<T> {
    if (origin !== undefined) return this.withFor(origin, patch, fn);
    const saved = { ...this.behaviour };
    Object.assign(this.behaviour, patch);
    try {
      return await fn();
    } finally {
      Object.assign(this.behaviour, saved, { failRaw: saved.failRaw, hold: saved.hold });
    }
  }

  private async withFor<T>(origin: string, patch: Partial<SendBehaviour>, fn: () => Promise<T>): Promise<T> {
    const saved = this.perOrigin.get(origin);
    this.perOrigin.set(origin, { ...(saved ?? this.behaviour), ...patch });
    try {
      return await fn();
    } finally {
      if (saved) this.perOrigin.set(origin, saved);
      else this.perOrigin.delete(origin);
    }
  }

  /** Answers one transaction from `origin`: delayed, failed on purpose, or by `answer`. */
  async pass<T>(origin: string, answer: () => T): Promise<T> {
    const n = (this.inFlight.get(origin) ?? 0) + 1;
    this.inFlight.set(origin, n);
    this.maxInFlight.set(origin, Math.max(n, this.maxInFlight.get(origin) ?? 0));
    try {
      const b = this.perOrigin.get(origin) ?? this.behaviour;
      if (b.hold && b.hold.arrived.length === 0) {
        b.hold.arrived.push(origin);
        b.hold.onArrive?.(origin);
        await b.hold.until;
        throw new SmcpError("SMCP_INTERNAL", "held by the fake peer while its sender was killed; never processed");
      }
      if (b.answerDelayMs > 0) await new Promise((r) => setTimeout(r, b.answerDelayMs));
      if (b.failNext > 0) {
        b.failNext--;
        const raw = b.failRaw?.shift();
        if (raw) return raw as T;
        const extra = b.failWith.retryAfterMs === undefined ? {} : { retryAfterMs: b.failWith.retryAfterMs };
        throw new SmcpError(b.failWith.errcode, "the fake peer fails this transaction on purpose", extra);
      }
      return answer();
    } finally {
      this.inFlight.set(origin, (this.inFlight.get(origin) ?? 1) - 1);
    }
  }
}
