// Naomi (event bus): the long-poll read of the control API — events up to local_seq, waiting for one without polling (spec §12.3).
import type { EventList } from "../../protocol/types.ts";
import type { Store } from "../storage/db.ts";
import { channelRow } from "./channel-rows.ts";

export class Waiters {
  private readonly waiting = new Map<string, Set<() => void>>();
  private closed = false;

  constructor(private readonly store: Store) {}

  /** Events after `after` up to local_seq; waits up to waitMs for one when there is none yet (no polling). */
  async read(channel: string, after: number, limit: number, waitMs: number, signal?: AbortSignal): Promise<EventList> {
    let row = channelRow(this.store, channel);
    if (row.local_seq <= after && waitMs > 0 && !this.closed) {
      await this.waitForAdvance(channel, after, waitMs, signal);
      row = channelRow(this.store, channel);
    }
    return { channel, events: this.store.events(channel, after, row.local_seq, limit), local_seq: row.local_seq };
  }

  /** The channels' local_seq moved (after commit): their waiting reads re-check. */
  wake(channels: Iterable<string>): void {
    for (const c of channels) for (const wake of [...(this.waiting.get(c) ?? [])]) wake();
  }

  /** Answers every waiting read now. */
  close(): void {
    this.closed = true;
    for (const set of this.waiting.values()) for (const wake of set) wake();
  }

  private waitForAdvance(channel: string, after: number, waitMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiting.get(channel);
      if (!set) this.waiting.set(channel, (set = new Set()));
      const done = () => {
        clearTimeout(timer);
        set!.delete(check);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const check = () => {
        if (this.closed || (this.store.channel(channel)?.local_seq ?? 0) > after) done();
      };
      const timer = setTimeout(done, waitMs);
      signal?.addEventListener("abort", done);
      set.add(check);
    });
  }
}
