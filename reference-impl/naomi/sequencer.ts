// Naomi (event bus), hub side: sequencing — an event appended to the hub log, its membership applied, and queued for
// every member, the sender included (spec §7.2, §9, §9.2); a rolled-back SQLite transaction re-reads every cache.
import { channelId as makeChannelId } from "../../protocol/identity.ts";
import { SmcpError } from "../../protocol/errors.ts";
import { isReservedType } from "../../protocol/events.ts";
import type { Event } from "../../protocol/types.ts";
import type { Store } from "../storage/db.ts";
import type { Effects } from "./effects.ts";
import type { HubLog } from "./hub-log.ts";
import type { Membership } from "./membership.ts";
import type { OutboundQueues } from "./outbound.ts";
import { memberOf } from "./reserved-types.ts";

export interface SequencerOptions {
  self: string;
  store: Store;
  log: HubLog;
  membership: Membership;
  outbound: OutboundQueues;
  now: () => number;
}

export class Sequencer {
  constructor(private readonly opts: SequencerOptions) {}

  /** Creates a channel hubbed here, with its smcp:channel.create at seq 1 (spec §7.1 EVT-02). */
  create(name: string, effects: Effects): string {
    const { self, store, now } = this.opts;
    const channel = makeChannelId(name, self);
    if (store.channel(channel)) throw new SmcpError("SMCP_CONFLICT", `channel ${channel} already exists`);
    this.hubTx(() => {
      store.insertChannel({ channel, hub: self, role: "hub", joined: 1, local_seq: 0, known_seq: 0, created_ts: now() });
      this.sequence(channel, "smcp:channel.create", self, now(), { creator: self }, effects);
    });
    return channel;
  }

  /**
   * Assigns the next seq, finalises and stores the event, applies membership and queues it for every member
   * (the sender included). Runs inside the caller's SQLite transaction (see hubTx).
   */
  sequence(
    channel: string, type: string, sender: string, originTs: number, data: Record<string, unknown>, effects: Effects,
    signed?: { submission_id: string; sender_signature: string }, dataText?: string,
  ): Event {
    const { self, log, outbound } = this.opts;
    const event = log.append(channel, type, sender, originTs, data, signed, dataText);
    const seq = event.seq;
    // Only the reserved membership types change the member list (the leave event still reaches the leaver): any
    // other event goes to the members as they are, without copying the list.
    const recipients = isReservedType(type) ? this.membershipRecipients(event) : log.membersOf(channel);
    for (const r of recipients) {
      if (r === self) continue;
      outbound.enqueue(r, channel, seq);
      effects.kicks.add(r);
    }
    effects.advanced.add(channel);
    return event;
  }

  /** Applies a membership event; it goes to the members before it and after it (a joiner and a leaver included). */
  private membershipRecipients(event: Event): Set<string> {
    const { self, log, outbound } = this.opts;
    const { channel, seq, type } = event;
    const recipients = new Set(log.membersOf(channel));
    this.opts.membership.apply(event);
    for (const m of log.membersOf(channel)) recipients.add(m);
    const server = memberOf(event);
    if (server && server !== self && type === "smcp:member.join") outbound.memberJoined(server, channel, seq);
    if (server && server !== self && type === "smcp:member.leave") outbound.memberLeft(server, channel, seq);
    return recipients;
  }

  /**
   * hubTx for a batch that sequences several events: each channel's row is written once, at the end. Anything that
   * throws in `fn` rolls the whole batch back (no savepoints inside: nothing may catch an error and carry on).
   */
  hubBatch<T>(fn: () => T): T {
    return this.hubTx(() => this.opts.log.deferSeqs(fn));
  }

  /** A SQLite transaction that sequences: if it rolls back, the hub log and the queue positions are re-read. */
  hubTx<T>(fn: () => T): T {
    try {
      return this.opts.store.tx(fn);
    } catch (err) {
      this.opts.log.invalidate();
      this.opts.outbound.resync();
      throw err;
    }
  }
}
