// Gail (log aggregation, spec §18.2 GAIL-09..GAIL-14): sends the outbox to the aggregator's log channel as
// `gail:log.batch` events, one batch in flight, each removed only once the hub has sequenced it; failures back off,
// honouring the hub's retry_after_ms, and never stack submissions in Naomi's queue.
import { backoffDelay } from "../../protocol/backoff.ts";
import { SmcpError } from "../../protocol/errors.ts";
import type { GailLogBatch, PublishResult } from "../../protocol/types.ts";
import type { Batch, Outbox } from "./outbox.ts";

export interface ForwarderOptions {
  outbox: Outbox;
  publish(channel: string, type: string, data: Record<string, unknown>): Promise<PublishResult>;
  /** Submissions Naomi still holds for this hub (a failed publish stays queued there, CTRL-20). */
  queuedFor(hub: string): number;
  now(): number;
  onError(err: unknown, retryInMs: number): void;
  backoff?: { baseMs: number; maxMs: number };
}

export interface ForwardTarget {
  channel: string;
  hub: string;
  maxBatchRecords: number;
  maxBatchBytes: number;
}

export class Forwarder {
  private target: ForwardTarget | undefined;
  /** Ends an idle wait for new records (not a back-off). */
  private wake: (() => void) | undefined;
  /** Ends any wait: close, or a new target. */
  private interrupt: (() => void) | undefined;
  private closed = false;
  private failures = 0;
  private retryAt = 0;
  /** Halved after SMCP_TOO_LARGE, restored after a success. */
  private recordCap = Infinity;
  private loop: Promise<void> | undefined;
  private lastError: string | undefined;

  constructor(private readonly opts: ForwarderOptions) {}

  setTarget(target: ForwardTarget | undefined): void {
    this.target = target;
    this.failures = 0;
    this.retryAt = 0;
    this.loop ??= this.run();
    this.interrupt?.();
  }

  /** A record was queued: send it when idle. */
  poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  retryAfterMs(): number {
    return Math.max(0, this.retryAt - this.opts.now());
  }

  error(): string | undefined {
    return this.lastError;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.interrupt?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      const t = this.target;
      const batch = t && this.nextBatch(t);
      if (!t || !batch) {
        await this.idle(undefined);
        continue;
      }
      try {
        const data: GailLogBatch = { records: batch.records, dropped: this.opts.outbox.dropped() };
        await this.opts.publish(t.channel, "gail:log.batch", data as unknown as Record<string, unknown>);
        this.opts.outbox.ack(batch);
        this.failures = 0;
        this.retryAt = 0;
        this.recordCap = Infinity;
        this.lastError = undefined;
      } catch (err) {
        if (this.closed) return;
        await this.failed(t, batch, err);
      }
    }
  }

  private nextBatch(t: ForwardTarget): Batch | undefined {
    return this.opts.outbox.next(this.opts.now(), Math.max(1, Math.min(t.maxBatchRecords, this.recordCap)), t.maxBatchBytes);
  }

  private async failed(t: ForwardTarget, batch: Batch, err: unknown): Promise<void> {
    if (err instanceof SmcpError && err.errcode === "SMCP_TOO_LARGE") {
      if (batch.records.length === 1) this.opts.outbox.dropTooLarge(batch);
      else {
        this.recordCap = Math.max(1, Math.floor(batch.records.length / 2));
        this.opts.outbox.release();
      }
      return;
    }
    // 502 SMCP_PEER_UNREACHABLE: Naomi keeps the submission in its durable queue and delivers it at most once
    // (CTRL-20, TXN-15): the batch is handed off, not lost, and sending it again would duplicate it.
    if (err instanceof SmcpError && err.errcode === "SMCP_PEER_UNREACHABLE") this.opts.outbox.ack(batch);
    else this.opts.outbox.release();
    this.failures++;
    const hinted = err instanceof SmcpError ? (err.extra.retryAfterMs ?? 0) : 0;
    const delay = Math.max(hinted, backoffDelay(this.failures, this.opts.backoff ?? { baseMs: 250, maxMs: 60_000 }));
    this.retryAt = this.opts.now() + delay;
    this.lastError = (err as Error).message;
    this.opts.onError(err, delay);
    await this.idle(delay, false);
    // Back-pressure: the next batch waits until Naomi's queue for the hub has drained, so an outage never stacks
    // submissions there; records meanwhile wait in the bounded outbox.
    while (!this.closed && this.target === t && this.opts.queuedFor(t.hub) > 0) await this.idle(Math.min(delay * 2, 60_000), false);
  }

  /** Waits `ms` (undefined: until poked); a poke ends it only when `pokable` (a back-off is not cut short by new records). */
  private idle(ms: number | undefined, pokable = true): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        if (timer) clearTimeout(timer);
        this.wake = undefined;
        this.interrupt = undefined;
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      this.wake = pokable ? done : undefined;
      this.interrupt = done;
    });
  }
}
