// Judith (spec §18.1.4): publishes the `judith:` events a state change wrote to the outbox in the same transaction,
// in order, one at a time — so that no transition is lost to a crash (delivery is at least once, JDT-26).
import type { Logger } from "pino";
import { SmcpError } from "../../protocol/errors.ts";
import type { PublishResult } from "../../protocol/types.ts";
import type { JudithStore } from "./store.ts";

/** What the outbox needs of Naomi: its control publish (spec §12.3). */
export type Publish = (channel: string, type: string, data: Record<string, unknown>) => Promise<PublishResult>;

/** Errors a later attempt cannot cure: the event is dropped, and the run goes on (its state stays readable on its owner). */
const HOPELESS: ReadonlySet<string> = new Set(["SMCP_UNKNOWN_CHANNEL", "SMCP_NOT_MEMBER", "SMCP_INVALID", "SMCP_TOO_LARGE", "SMCP_BAD_EVENT"]);

export class Outbox {
  private draining: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly store: JudithStore, private readonly publish: Publish, private readonly log?: Logger, private readonly retryMs = 1_000) {}

  /** Publishes whatever is queued; concurrent kicks share one drain. */
  kick(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.draining) {
      this.again = true;
      return this.draining;
    }
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      if (this.again) {
        this.again = false;
        void this.kick();
      }
    });
    return this.draining;
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  private async drain(): Promise<void> {
    for (let row = this.store.nextOutbox(); row && !this.closed; row = this.store.nextOutbox()) {
      try {
        await this.publish(row.channel, row.type, JSON.parse(row.data) as Record<string, unknown>);
      } catch (err) {
        const code = err instanceof SmcpError ? err.errcode : undefined;
        // SMCP_PEER_UNREACHABLE: Naomi keeps the submission queued and delivers it later (CTRL-20); it is no longer ours.
        if (code !== "SMCP_PEER_UNREACHABLE" && !(code && HOPELESS.has(code))) {
          this.log?.warn({ err, type: row.type }, "judith event not published; retrying");
          this.retryTimer = setTimeout(() => void this.kick(), this.retryMs);
          this.retryTimer.unref();
          return;
        }
        if (code !== "SMCP_PEER_UNREACHABLE") this.log?.warn({ errcode: code, type: row.type, channel: row.channel }, "judith event dropped");
      }
      this.store.dropOutbox(row.id);
    }
  }
}
