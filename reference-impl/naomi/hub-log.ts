// Naomi (event bus), hub side: the log of the channels this instance hubs — each channel's newest event, members and
// signed heads, and the JSON of recently sequenced events; appends and backfill pages (spec §7.2, §9.3, §9.4).
import { SmcpError } from "../../protocol/errors.ts";
import { finaliseEventText, signHead } from "../../protocol/events.ts";
import { parseChannelId } from "../../protocol/identity.ts";
import type { SigningKey } from "../../protocol/keys.ts";
import type { BackfillPage, ChannelHead, Event } from "../../protocol/types.ts";
import type { Store } from "../storage/db.ts";

/** How many of the newest sequenced events the hub keeps as JSON for its outbound queues. */
const RECENT_EVENTS = 20_000;
/** How long a signed head of a channel's unchanged newest event is reused for further transactions. */
const HEAD_REUSE_MS = 1000;

export interface HubLogOptions {
  self: string;
  key: SigningKey;
  store: Store;
  now: () => number;
}

/** A hubbed channel's newest seq and event ID. */
export interface Tip {
  seq: number;
  eventId: string | null;
}

/**
 * The hub is the only writer of its channels, so their newest event and members are read once and then kept here
 * by append(). A rolled-back SQLite transaction must call invalidate(), so that these never run ahead of the store.
 */
export class HubLog {
  private readonly tips = new Map<string, Tip>();
  private readonly memberLists = new Map<string, string[]>();
  /** The channels each destination belongs to (cleared by every membership change). */
  private readonly memberChannels = new Map<string, string[]>();
  /** The newest signed head per channel. */
  private readonly signedHeads = new Map<string, ChannelHead>();
  /**
   * The JSON of the newest sequenced events, which the outbound queues are about to send to every member.
   * A rolled-back event's entry is overwritten when its seq is sequenced again, before any queue can refer to it.
   */
  private readonly recentEvents = new Map<string, Map<number, RecentEvent>>();
  /** The remembered events, oldest first, for eviction (from `evictFrom` on; compacted now and then). */
  private recentOrder: { channel: string; seq: number; entry: RecentEvent }[] = [];
  private evictFrom = 0;
  private recentCount = 0;
  /** Inside deferSeqs: each channel's newest seq, written to its row once at the end rather than per event. */
  private deferred: Map<string, number> | null = null;

  constructor(private readonly opts: HubLogOptions) {}

  /** A hubbed channel's newest event (undefined for a channel this instance does not hub). */
  tip(channel: string): Tip | undefined {
    let tip = this.tips.get(channel);
    if (!tip) {
      const row = this.opts.store.channel(channel);
      if (!row || row.role !== "hub") return undefined;
      tip = { seq: row.local_seq, eventId: row.local_seq === 0 ? null : this.opts.store.event(channel, row.local_seq)!.event_id };
      this.tips.set(channel, tip);
    }
    return tip;
  }

  /** Whether the channel's tip is held in memory (then it is one this instance hubs), without reading the store. */
  hasTip(channel: string): boolean {
    return this.tips.has(channel);
  }

  /** The seq of the newest event of a channel this instance hubs (the end of every read position into it); else 0. */
  seq(channel: string): number {
    return this.tip(channel)?.seq ?? 0;
  }

  /** The stored JSON of a recently sequenced event and its size in bytes, if still held in memory. */
  recentEvent(channel: string, seq: number): RecentEvent | undefined {
    return this.recentEvents.get(channel)?.get(seq);
  }

  membersOf(channel: string): string[] {
    let list = this.memberLists.get(channel);
    if (!list) this.memberLists.set(channel, (list = this.opts.store.members(channel)));
    return list;
  }

  /**
   * Assigns the next seq, finalises and stores the event and moves the channel's seqs to it. Runs inside the
   * caller's SQLite transaction; membership and fan-out are the sequencer's.
   */
  append(
    channel: string, type: string, sender: string, originTs: number, data: Record<string, unknown>,
    signed?: { submission_id: string; sender_signature: string }, dataText?: string,
  ): Event {
    const tip = this.tip(channel)!;
    const seq = tip.seq + 1;
    // A 1.1 sender's proof (spec §7.5 EVT-26) is part of the hashed form, so event_id and hub_signature cover it.
    const { event, json } = finaliseEventText(this.opts.key, {
      channel, seq, prev_event: tip.eventId, type, sender, origin_ts: originTs, hub_ts: this.opts.now(), data: data as Event["data"],
      ...(signed ? { submission_id: signed.submission_id, sender_signature: signed.sender_signature } : {}),
    }, dataText);
    this.opts.store.insertEvent(event, json);
    this.remember(channel, seq, json);
    this.tips.set(channel, { seq, eventId: event.event_id });
    if (this.deferred) this.deferred.set(channel, seq);
    else this.opts.store.setSeqs(channel, seq, seq);
    return event;
  }

  /**
   * Runs `fn` (inside the caller's SQLite transaction) with each channel's row written once, at the end, instead of
   * once per appended event. If `fn` throws, the caller's whole transaction must roll back: nothing is written then.
   */
  deferSeqs<T>(fn: () => T): T {
    this.deferred = new Map();
    try {
      const result = fn();
      for (const [channel, seq] of this.deferred) this.opts.store.setSeqs(channel, seq, seq);
      return result;
    } finally {
      this.deferred = null;
    }
  }

  /** A membership event of `channel` was applied: the cached member lists are stale. */
  membershipChanged(channel: string): void {
    this.memberChannels.clear();
    this.memberLists.delete(channel);
  }

  /** After a rolled-back SQLite transaction: everything is re-read from the store. */
  invalidate(): void {
    this.tips.clear();
    this.memberLists.clear();
    this.memberChannels.clear();
    this.signedHeads.clear();
  }

  /** A fresh head for every channel we hub that `destination` belongs to (spec §9.3 DLV-09, DLV-10). */
  headsFor(destination: string): ChannelHead[] {
    let channels = this.memberChannels.get(destination);
    if (!channels) this.memberChannels.set(destination, (channels = this.opts.store.channelsOfMember(destination, this.opts.self)));
    return channels.map((c) => this.currentHead(c));
  }

  /** Consecutive events after `after` for a member (a removed member up to its leave event), with a head (spec §9.4). */
  page(origin: string, channel: string, after: number, limit: number): BackfillPage {
    const { store, self } = this.opts;
    if (parseChannelId(channel)?.hub !== self) throw new SmcpError("SMCP_NOT_HUB", `${channel} is not hubbed by ${self}`);
    const row = store.channel(channel);
    if (!row) throw new SmcpError("SMCP_UNKNOWN_CHANNEL", `no channel ${channel} here`);
    const member = store.member(channel, origin);
    if (!member) throw new SmcpError("SMCP_NOT_MEMBER", `${origin} has never been a member of ${channel}`);
    const upTo = member.left_seq ?? row.local_seq;
    if (member.left_seq !== null && after >= member.left_seq) throw new SmcpError("SMCP_NOT_MEMBER", `${origin} left ${channel} at seq ${member.left_seq}`);
    return { channel, events: store.events(channel, after, upTo, limit), head: this.headAt(channel, upTo) };
  }

  /**
   * The head of a channel at its newest event. One signed within the last second for that same newest event is
   * still exact (DLV-10) and is shared by the destinations built meanwhile, instead of one signature each.
   */
  private currentHead(channel: string): ChannelHead {
    const tip = this.tip(channel)!;
    const now = this.opts.now();
    const cached = this.signedHeads.get(channel);
    if (cached && cached.seq === tip.seq && cached.event_id === tip.eventId && now - cached.hub_ts < HEAD_REUSE_MS) return cached;
    const head = signHead(this.opts.key, { channel, seq: tip.seq, event_id: tip.eventId, hub_ts: this.opts.now() });
    this.signedHeads.set(channel, head);
    return head;
  }

  private headAt(channel: string, seq: number): ChannelHead {
    const eventId = seq === 0 ? null : this.opts.store.event(channel, seq)?.event_id ?? null;
    return signHead(this.opts.key, { channel, seq, event_id: eventId, hub_ts: this.opts.now() });
  }

  private remember(channel: string, seq: number, json: string): void {
    let events = this.recentEvents.get(channel);
    if (!events) this.recentEvents.set(channel, (events = new Map()));
    const entry = { json, bytes: Buffer.byteLength(json) };
    if (!events.has(seq)) this.recentCount++;
    events.set(seq, entry); // a rolled-back seq sequenced again replaces its entry; the older order slot then evicts nothing
    this.recentOrder.push({ channel, seq, entry });
    while (this.recentCount > RECENT_EVENTS) this.evictOldest();
  }

  private evictOldest(): void {
    const { channel, seq, entry } = this.recentOrder[this.evictFrom++]!;
    const events = this.recentEvents.get(channel)!;
    if (events.get(seq) === entry) {
      events.delete(seq);
      this.recentCount--;
      if (events.size === 0) this.recentEvents.delete(channel);
    }
    if (this.evictFrom > RECENT_EVENTS) {
      this.recentOrder = this.recentOrder.slice(this.evictFrom);
      this.evictFrom = 0;
    }
  }
}

/** A recently sequenced event as stored, with its UTF-8 size, measured once for every destination's byte budget. */
export interface RecentEvent {
  json: string;
  bytes: number;
}

