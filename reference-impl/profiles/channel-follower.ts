// Optional profiles (spec §18): reads one channel's events in order through Naomi's long-poll read (spec §12.3),
// from a durable cursor, handing each page to a handler that stores its effects and the new cursor together.
import type { Event, EventList } from "../../protocol/types.ts";

export interface FollowerOptions {
  channel: string;
  /** Naomi's read (reference-impl/naomi/naomi.ts `read`). */
  read(channel: string, after: number, limit: number, waitMs: number, signal?: AbortSignal): Promise<EventList>;
  /** The highest seq already handled (durable). */
  cursor(): number;
  /** Handles events in seq order; must persist the cursor (the last event's seq) in the same transaction. */
  handle(events: Event[]): void;
  onError(err: unknown): void;
  pageSize?: number;
}

/** One follow loop per channel; stop() ends it at once (the pending read is aborted). */
export class ChannelFollower {
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;

  constructor(private readonly opts: FollowerOptions) {}

  start(): void {
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    const { signal } = this.abort;
    let failures = 0;
    while (!signal.aborted) {
      try {
        const page = await this.opts.read(this.opts.channel, this.opts.cursor(), this.opts.pageSize ?? 100, 25_000, signal);
        if (signal.aborted) return;
        if (page.events.length > 0) this.opts.handle(page.events);
        failures = 0;
      } catch (err) {
        if (signal.aborted) return;
        this.opts.onError(err);
        failures++;
        // A channel that cannot be read (removed, storage failing) is retried with a growing pause, never spun on.
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(30_000, 100 * 2 ** Math.min(failures, 9)));
          signal.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
        });
      }
    }
  }
}
