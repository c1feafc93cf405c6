// Naomi (event bus), participant side: receiving the hub's events and heads — the checks of spec §8.5 TXN-27, gaps
// held (§9.4), chain conflicts and equivocation kept as evidence (§9.3, §9.6); when each channel last heard from its hub.
import type { Logger } from "pino";
import { headVerifies } from "../../protocol/events.ts";
import type { VerifyKey } from "../../protocol/keys.ts";
import type { ChannelHead, Event, RejectedItem } from "../../protocol/types.ts";
import type { ChannelRow, Store } from "../storage/db.ts";
import type { Authenticator } from "./authenticate.ts";
import { newEffects, type Effects } from "./effects.ts";
import type { Membership } from "./membership.ts";
import { reservedProblem } from "./reserved-types.ts";

export interface ReceiverOptions {
  self: string;
  store: Store;
  membership: Membership;
  logger: Logger;
  now: () => number;
}

/**
 * A receiver's state for one SQLite transaction (a federation transaction or a backfill page): each channel row
 * is read once and kept in step with every write, its seqs are written once at the end (flush), and the newest event
 * stored per channel is remembered so that the next one's prev_event is checked without reading it back.
 */
export interface Batch {
  effects: Effects;
  rows: Map<string, ChannelRow>;
  dirty: Set<string>;
  tips: Map<string, { seq: number; event_id: string }>;
}

export function newBatch(): Batch {
  return { effects: newEffects(), rows: new Map(), dirty: new Set(), tips: new Map() };
}

/** A refused event's item (a function, not a closure per event: it runs for every received event). */
function rejection(event: Event, errcode: RejectedItem["errcode"], error: string): RejectedItem {
  return { id: event.event_id, errcode, error };
}

export class Receiver {
  /** When each participant channel last heard from its hub (an event, a head, the invite): idle ones backfill. */
  private readonly lastHeard = new Map<string, number>();

  constructor(private readonly opts: ReceiverOptions) {}

  heard(channel: string): void {
    this.lastHeard.set(channel, this.opts.now());
  }

  lastHeardAt(channel: string): number {
    return this.lastHeard.get(channel) ?? 0;
  }

  /** Participant side: the checks of spec §8.5 TXN-27 in order; authenticated events are stored even ahead of a gap (§9.4). */
  event(origin: string, auth: Authenticator, event: Event, batch: Batch, backfilled = false): RejectedItem | null {
    const row = this.rowIn(batch, event.channel);
    if (!row) return rejection(event, "SMCP_UNKNOWN_CHANNEL", `no channel ${event.channel} here`);
    // A backfill page is scoped by the hub to what we may see; history may contain an earlier leave of ours.
    // After leaving on its own (1.1, spec §9.8 CHAN-37) the leaver still takes events up to its answered leave event.
    if (row.joined !== 1 && !backfilled && !(event.seq <= (this.opts.store.ownLeaveSeq(event.channel) ?? 0))) {
      return rejection(event, "SMCP_NOT_MEMBER", `${this.opts.self} is not joined to ${event.channel}`);
    }
    if (row.role !== "participant" || row.hub !== origin) return rejection(event, "SMCP_NOT_HUB", `${origin} is not the hub of ${event.channel}`);
    // Nothing is stored beyond known_seq (storing an event raises it), so higher seqs need no lookup.
    const existing = event.seq <= row.known_seq ? this.opts.store.event(event.channel, event.seq) : undefined;
    // A redelivery of a held (already verified) event is processed without verifying its signature or storing it
    // again (TXN-23); its ID must still recompute, or it is not the held event but altered content under its ID (TXN-27).
    if (existing?.event_id === event.event_id && auth.idProblem(event) === null) return null;
    const problem = auth.problem(event) ?? reservedProblem(event, row.hub);
    if (problem) return rejection(event, "SMCP_BAD_EVENT", problem);
    const conflict = existing ? `seq ${event.seq} is already ${existing.event_id}` : this.chainConflict(row, event, batch);
    if (conflict) {
      this.recordEquivocation(event, auth.evidence(event), existing?.json ?? null, conflict);
      return rejection(event, "SMCP_EQUIVOCATION", conflict);
    }
    this.opts.store.insertEvent(event);
    batch.tips.set(event.channel, { seq: event.seq, event_id: event.event_id });
    this.heard(event.channel);
    this.advance(row, event.seq, batch, event);
    return null;
  }

  /** A verified head raises known_seq; one contradicting a held event is kept as evidence (spec §9.3, §9.6). */
  head(origin: string, hubKey: VerifyKey, head: ChannelHead, batch: Batch): void {
    const { store, logger, now } = this.opts;
    const row = this.rowIn(batch, head.channel);
    if (!row || row.role !== "participant" || row.hub !== origin) return;
    // A head naming the event this batch just stored tells nothing new (its chain is authenticated): no signature to check.
    const tip = batch.tips.get(head.channel);
    if (tip && tip.seq === head.seq && tip.event_id === head.event_id) {
      this.heard(head.channel);
      return;
    }
    if (!headVerifies(hubKey, head)) return;
    this.heard(head.channel);
    const held = head.seq > 0 && head.seq <= row.known_seq ? store.event(head.channel, head.seq) : undefined;
    if (held && held.event_id !== head.event_id) {
      store.putEvidence(head.channel, head.seq, held.json, JSON.stringify(head), now());
      logger.error({ channel: head.channel, seq: head.seq, held: held.event_id, head: head.event_id }, "hub equivocation (head)");
      return;
    }
    if (head.seq < row.known_seq) return this.checkStaleHead(row, head);
    if (head.seq >= row.known_seq) {
      const json = JSON.stringify(head);
      store.setHead(head.channel, json);
      row.head = json;
    }
    if (head.seq > row.known_seq) this.advance(row, head.seq, batch);
  }

  /** Writes each changed row's seqs once, and notes the channels left with a gap. */
  flush(batch: Batch): void {
    for (const channel of batch.dirty) {
      const row = batch.rows.get(channel)!;
      this.opts.store.setSeqs(channel, row.local_seq, row.known_seq);
      if (row.known_seq > row.local_seq) batch.effects.gaps.add(channel);
    }
    batch.dirty.clear();
  }

  /** The batch's copy of a channel row, read once per SQLite transaction. */
  private rowIn(batch: Batch, channel: string): ChannelRow | undefined {
    let row = batch.rows.get(channel);
    if (!row) {
      row = this.opts.store.channel(channel);
      if (row) batch.rows.set(channel, row);
    }
    return row;
  }

  /** prev_event must link to the held neighbours on both sides; otherwise the hub signed two histories (spec §9.6). */
  private chainConflict(row: ChannelRow, event: Event, batch: Batch): string | null {
    const { store } = this.opts;
    if (event.seq > 1 && event.seq - 1 <= row.known_seq) {
      const tip = batch.tips.get(event.channel);
      const prevId = tip?.seq === event.seq - 1 ? tip.event_id : store.event(event.channel, event.seq - 1)?.event_id;
      if (prevId !== undefined && prevId !== event.prev_event) return `prev_event is not the held event ${prevId} at seq ${event.seq - 1}`;
    }
    const next = event.seq + 1 <= row.known_seq ? store.event(event.channel, event.seq + 1) : undefined;
    if (next && (JSON.parse(next.json) as Event).prev_event !== event.event_id) return `the held event at seq ${event.seq + 1} does not follow this one`;
    const head = event.seq <= row.known_seq && row.head ? (JSON.parse(row.head) as ChannelHead) : null;
    if (head && head.seq === event.seq && head.event_id !== event.event_id) return `the hub's signed head names ${head.event_id} at seq ${event.seq}`;
    return null;
  }

  /**
   * Both signed statements are kept as evidence, and the operator is told (spec §9.6 DLV-25, DLV-26). An offered
   * event authenticated through the chain is kept with that chain, up to the event whose signature verifies.
   */
  private recordEquivocation(offered: Event, proof: Event | Event[], heldJson: string | null, why: string): void {
    this.opts.store.putEvidence(offered.channel, offered.seq, heldJson ?? "null", JSON.stringify(proof), this.opts.now());
    this.opts.logger.error({ channel: offered.channel, seq: offered.seq, offered: offered.event_id, why }, "hub equivocation");
  }

  /** Moves local_seq over every contiguous stored event (applying membership in order) and known_seq up, in the batch's row. */
  private advance(row: ChannelRow, seenSeq: number, batch: Batch, just?: Event): void {
    const before = row.local_seq;
    row.known_seq = Math.max(row.known_seq, seenSeq);
    // The common case: the event just stored is the next one, with nothing held beyond it.
    if (just && just.seq === row.local_seq + 1) {
      this.opts.membership.apply(just, row);
      row.local_seq++;
    }
    while (row.local_seq < row.known_seq) {
      const next = this.opts.store.event(row.channel, row.local_seq + 1);
      if (!next) break;
      this.opts.membership.apply(JSON.parse(next.json) as Event, row);
      row.local_seq++;
    }
    row.known_seq = Math.max(row.known_seq, row.local_seq);
    batch.dirty.add(row.channel);
    if (row.local_seq !== before) batch.effects.advanced.add(row.channel);
  }

  /**
   * A verified head below known_seq is stale, which is normal (a retried transaction), unless the hub signed it after
   * it had signed a later seq: then it states a false newest event, and is kept as evidence (spec §9.3 DLV-15).
   */
  private checkStaleHead(row: ChannelRow, head: ChannelHead): void {
    const stored = row.head ? (JSON.parse(row.head) as ChannelHead) : undefined;
    const nextEvent = this.opts.store.event(head.channel, head.seq + 1);
    const candidates: { seq: number; hub_ts: number; json: string }[] = [];
    if (stored && stored.seq > head.seq) candidates.push({ seq: stored.seq, hub_ts: stored.hub_ts, json: row.head! });
    if (nextEvent) {
      const e = JSON.parse(nextEvent.json) as Event;
      candidates.push({ seq: e.seq, hub_ts: e.hub_ts, json: nextEvent.json });
    }
    const proof = candidates.find((c) => c.hub_ts < head.hub_ts);
    if (!proof) return;
    this.opts.store.putEvidence(head.channel, head.seq, proof.json, JSON.stringify(head), this.opts.now());
    this.opts.logger.error({ channel: head.channel, seq: head.seq, later_seq: proof.seq, head_ts: head.hub_ts, later_ts: proof.hub_ts }, "hub equivocation (stale head)");
  }
}
