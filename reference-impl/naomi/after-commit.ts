// Naomi (event bus): runs a committed SQLite transaction's effects — kicks the queues, wakes long-polls, starts gap
// timers — only once everything is stored (spec §8.3 TXN-13, §9.4, §12.3).
import type { Backfill } from "./backfill.ts";
import type { Effects } from "./effects.ts";
import type { OutboundQueues } from "./outbound.ts";
import type { Waiters } from "./waiters.ts";

export class AfterCommit {
  constructor(
    private readonly outbound: OutboundQueues,
    private readonly waiters: Waiters,
    private readonly backfill: Backfill,
  ) {}

  run(effects: Effects): void {
    for (const d of effects.kicks) this.outbound.kick(d);
    this.waiters.wake(effects.advanced);
    for (const c of effects.gaps) this.backfill.scheduleGapFill(c);
  }
}
