// Naomi (event bus), participant side: backfill from the hub — one fetch loop per channel, one request in flight per hub,
// the gap timer, the idle check that fetches the head of channels heard nothing from, and the back-off and give-up that
// stop a dead (or hostile) hub from being chased for ever (spec §9.3, §9.4 DLV-36, DLV-37).
import type { Logger } from "pino";
import { SmcpError } from "../../protocol/errors.ts";
import { errorFromAnswer } from "../../protocol/http-client.ts";
import type { VerifyKey } from "../../protocol/keys.ts";
import { PAGE_LIMIT_MAX } from "../../protocol/limits.ts";
import { validate } from "../../protocol/schemas.ts";
import type { BackfillPage } from "../../protocol/types.ts";
import type { FederationSender } from "../federation-sender.ts";
import type { Store } from "../storage/db.ts";
import { authenticate, type VerifyEvent } from "./authenticate.ts";
import { newBatch, type Receiver } from "./receiver.ts";
import type { PrepareSenderCheck, SenderCheck } from "./sender-check.ts";
import type { Waiters } from "./waiters.ts";

export interface BackfillOptions {
  store: Store;
  sender: FederationSender;
  /** The verified key of a hub we have discovered (backfill answers are not signed requests). */
  hubKey: (hub: string) => Promise<VerifyKey | null>;
  receiver: Receiver;
  waiters: Waiters;
  verifyEvent: VerifyEvent;
  /** Protocol 1.1: the sender-signature rules for a page's events (spec §7.5 EVT-32). */
  senderCheck: PrepareSenderCheck;
  logger: Logger;
  /** Wait this long after detecting a gap before backfilling (the queue usually fills it first). */
  gapDelayMs: number;
  /** Participants fetch the head of channels they have heard nothing from for this long; also the first back-off. */
  idleBackfillMs: number;
  /** The back-off after failed backfill requests to a hub doubles up to this (DLV-36). */
  retryMaxMs: number;
  /** After this many consecutive failures the hub is not asked again until it sends us a request (DLV-37). */
  giveUpAfter: number;
  now: () => number;
}

/** Backfill towards one hub: requests are serialised, and failures back off and eventually stop. */
interface HubState {
  /** The tail of this hub's backfill loops, run one after the other. */
  chain: Promise<void>;
  failures: number;
  retryAt: number;
  gaveUp: boolean;
}

export class Backfill {
  private readonly running = new Map<string, Promise<void>>();
  private readonly gapTimers = new Map<string, NodeJS.Timeout>();
  private readonly hubs = new Map<string, HubState>();
  private closed = false;

  constructor(private readonly opts: BackfillOptions) {}

  /** Catches up every participant channel that is joined or known to have a gap (restart recovery). */
  catchUp(): void {
    for (const ch of this.opts.store.channels()) {
      if (ch.role === "participant" && (ch.joined === 1 || ch.known_seq > ch.local_seq)) void this.backfill(ch.channel);
    }
  }

  /**
   * Fetches missing events from the hub until local_seq reaches the known head; one loop per channel at a time, and
   * the loops of one hub's channels one after the other, so that a failing hub sees one request, not one per channel.
   */
  backfill(channel: string): Promise<void> {
    const running = this.running.get(channel);
    if (running) return running;
    const row = this.opts.store.channel(channel);
    if (!row || row.role !== "participant") return Promise.resolve();
    const hub = this.hubState(row.hub);
    const p = hub.chain.then(() => this.run(channel, row.hub)).finally(() => this.running.delete(channel));
    hub.chain = p.catch(() => undefined);
    this.running.set(channel, p);
    return p;
  }

  /** The hub sent us an authenticated request: it is alive, so backfill from it resumes at once (DLV-37). */
  hubTalked(hub: string): void {
    const state = this.hubs.get(hub);
    if (!state || (state.failures === 0 && !state.gaveUp)) return;
    if (state.gaveUp) this.opts.logger.info({ hub }, "hub is back: backfill resumes");
    Object.assign(state, { failures: 0, retryAt: 0, gaveUp: false });
  }

  /** Whether a backfill request to `hub` may be sent now (not backing off, not given up; DLV-36, DLV-37). */
  mayAsk(hub: string): boolean {
    const state = this.hubs.get(hub);
    return !state || (!state.gaveUp && this.opts.now() >= state.retryAt);
  }

  /** A channel was left with a gap: backfill it after gapDelayMs unless the queue fills it first. */
  scheduleGapFill(channel: string): void {
    if (this.gapTimers.has(channel) || this.closed) return;
    const t = setTimeout(() => {
      this.gapTimers.delete(channel);
      const row = this.opts.store.channel(channel);
      if (row && row.known_seq > row.local_seq) void this.backfill(channel);
    }, this.opts.gapDelayMs);
    t.unref();
    this.gapTimers.set(channel, t);
  }

  /** Channels heard nothing from for idleBackfillMs fetch the hub's head (spec §9.3). */
  idleCheck(): void {
    const now = this.opts.now();
    for (const row of this.opts.store.channels()) {
      if (row.role !== "participant") continue;
      if (row.joined !== 1 && row.known_seq <= row.local_seq) continue;
      if (now - this.opts.receiver.lastHeardAt(row.channel) < this.opts.idleBackfillMs) continue;
      if (!this.mayAsk(row.hub)) continue;
      this.opts.receiver.heard(row.channel);
      void this.backfill(row.channel);
    }
  }

  close(): void {
    this.closed = true;
    for (const t of this.gapTimers.values()) clearTimeout(t);
  }

  private async run(channel: string, hub: string): Promise<void> {
    const { store } = this.opts;
    for (let round = 0; round < 10_000 && !this.closed; round++) {
      const row = store.channel(channel);
      if (!row || row.role !== "participant" || !this.mayAsk(hub)) return;
      const page = await this.fetch(hub, channel, row.local_seq);
      if (!page) return this.failed(hub);
      this.hubTalked(hub);
      const key = await this.opts.hubKey(hub);
      if (!key || this.closed) return;
      const check = await this.opts.senderCheck(hub, page.events);
      if (this.closed) return;
      const progressed = this.apply(hub, key, page, check);
      const after = store.channel(channel)!;
      if (after.local_seq >= after.known_seq || !progressed) return;
    }
  }

  private hubState(hub: string): HubState {
    let state = this.hubs.get(hub);
    if (!state) this.hubs.set(hub, (state = { chain: Promise.resolve(), failures: 0, retryAt: 0, gaveUp: false }));
    return state;
  }

  /** One more consecutive failure: back off (idleBackfillMs, doubling, at most retryMaxMs), or give up (DLV-36, DLV-37). */
  private failed(hub: string): void {
    const state = this.hubState(hub);
    state.failures++;
    const wait = Math.min(this.opts.idleBackfillMs * 2 ** Math.min(state.failures - 1, 30), this.opts.retryMaxMs);
    state.retryAt = this.opts.now() + wait;
    if (state.failures >= this.opts.giveUpAfter && !state.gaveUp) {
      state.gaveUp = true;
      this.opts.logger.warn({ hub, failures: state.failures }, "backfill from hub given up until it sends a request");
    }
  }

  /** One page from the hub, or undefined (logged) when it cannot be had. */
  private async fetch(hub: string, channel: string, after: number): Promise<BackfillPage | undefined> {
    const path = `/federation/v1/channels/${encodeURIComponent(channel)}/events?after=${after}&limit=${PAGE_LIMIT_MAX}`;
    try {
      const answer = await this.opts.sender.request(hub, "GET", path, undefined, { timeoutMs: 15_000 });
      if (answer.status !== 200) throw errorFromAnswer(answer, hub);
      if (validate("BackfillPage", answer.body).length > 0) throw new SmcpError("SMCP_PEER_UNREACHABLE", `${hub} sent an invalid BackfillPage`);
      return answer.body as BackfillPage;
    } catch (err) {
      this.opts.logger.warn({ channel, err: (err as Error).message }, "backfill failed");
      return undefined;
    }
  }

  /**
   * Stores a page in one SQLite transaction. The loop itself goes on past a remaining gap (no gap timer), and a
   * participant's page sequences nothing (no queue kicks): only the channel's long-polls are woken.
   */
  private apply(hub: string, key: VerifyKey, page: BackfillPage, check: SenderCheck): boolean {
    const { store, receiver } = this.opts;
    const batch = newBatch();
    const before = store.channel(page.channel)!.local_seq;
    const events = page.events.filter((e) => e.channel === page.channel);
    const auth = check(authenticate(hub, key, events, this.opts.verifyEvent));
    store.tx(() => {
      for (const event of events) {
        const problem = receiver.event(hub, auth, event, batch, true);
        if (problem) this.opts.logger.warn({ channel: page.channel, ...problem }, "backfilled event refused");
      }
      if (page.head.channel === page.channel) receiver.head(hub, key, page.head, batch);
      receiver.flush(batch);
    });
    this.opts.waiters.wake(batch.effects.advanced);
    return store.channel(page.channel)!.local_seq > before;
  }
}
