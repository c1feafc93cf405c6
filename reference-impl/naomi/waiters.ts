// Naomi (event bus): the long-poll read of the control API — events up to local_seq, waiting for one without polling (spec §12.3).
import type { EventList } from "../../protocol/types.ts";
import type { Store } from "../storage/db.ts";
import { channelRow } from "./channel-rows.ts";

/** A waiting read, told the channel's committed local_seq after a commit moved it (NaN: the store is closing). */
type Waiter = (localSeq: number) => void;

/** The read's abort signal, or a getter that makes it: a read answered at once never needs one. */
export type ReadSignal = AbortSignal | (() => AbortSignal);

export class Waiters {
  private readonly waiting = new Map<string, Set<Waiter>>();
  private closed = false;

  constructor(private readonly store: Store) {}

  /** Events after `after` up to local_seq; waits up to waitMs for one when there is none yet (no polling). */
  async read(channel: string, after: number, limit: number, waitMs: number, signal?: ReadSignal): Promise<EventList> {
    let localSeq = channelRow(this.store, channel).local_seq;
    if (localSeq <= after && waitMs > 0 && !this.closed) {
      // A wake-up hands over the local_seq it read after the commit (committed, so safe to answer up to); a timeout,
      // an abort or close reads the row again.
      localSeq = (await this.waitForAdvance(channel, after, waitMs, signal)) ?? channelRow(this.store, channel).local_seq;
    }
    return { channel, events: this.store.events(channel, after, localSeq, limit), local_seq: localSeq };
  }

  /** The channels' local_seq moved (after commit): their waiting reads re-check, against one row read per channel. */
  wake(channels: Iterable<string>): void {
    for (const c of channels) {
      const set = this.waiting.get(c);
      if (!set || set.size === 0) continue;
      const localSeq = this.store.channel(c)?.local_seq ?? 0;
      // A waiter that is done removes itself; deleting the current member does not disturb a Set's iteration.
      for (const wake of set) wake(localSeq);
    }
  }

  /** Answers every waiting read now. */
  close(): void {
    this.closed = true;
    for (const set of this.waiting.values()) for (const wake of set) wake(Number.NaN);
  }

  /** Resolves with the local_seq that moved past `after`, or undefined on timeout, abort or close. */
  private waitForAdvance(channel: string, after: number, waitMs: number, signal?: ReadSignal): Promise<number | undefined> {
    return new Promise((resolve) => {
      let set = this.waiting.get(channel);
      if (!set) this.waiting.set(channel, (set = new Set()));
      const abortSignal = typeof signal === "function" ? signal() : signal;
      const done = (localSeq?: number) => {
        clearTimeout(timer);
        set!.delete(check);
        if (set!.size === 0 && this.waiting.get(channel) === set) this.waiting.delete(channel);
        abortSignal?.removeEventListener("abort", onAbort);
        resolve(localSeq);
      };
      const onAbort = () => done();
      const check: Waiter = (localSeq) => {
        if (this.closed) done();
        else if (localSeq > after) done(localSeq);
      };
      const timer = setTimeout(done, waitMs);
      abortSignal?.addEventListener("abort", onAbort);
      set.add(check);
    });
  }
}
