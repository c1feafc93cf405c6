// Conformance harness, fake peer as a participant: invites, events and heads from hubs, verified as a participant must (spec §7.4, §8.5, DLV-02/09/10).
import { eventProblem, headVerifies } from "../../protocol/events.ts";
import { parseChannelId } from "../../protocol/identity.ts";
import type { ChannelHead, Event, Invite, InviteAnswer, RejectedItem, Transaction, TransactionResult } from "../../protocol/types.ts";
import type { InstanceDirectory } from "./directory.ts";
import type { FakeIdentity } from "./identity.ts";
import type { InboundRecord } from "./observation.ts";
import type { Route, RouteRequest } from "./routes.ts";

/** A channel the instance hubs and the fake participates in, as the fake received it. */
export interface ParticipantChannel {
  hub: string;
  events: Map<number, Event>;
  heads: ChannelHead[];
}

export class FakeParticipant {
  readonly channels = new Map<string, ParticipantChannel>();
  /** Invites the fake received and accepted, by channel. */
  readonly invitedTo = new Set<string>();
  /** Channels the fake was removed from, with the seq of its leave: nothing later may be delivered (DLV-02). */
  readonly removedFrom = new Map<string, number>();

  constructor(
    private readonly self: FakeIdentity,
    private readonly directory: InstanceDirectory,
  ) {}

  /** POST /federation/v1/invite: accepts every invite from a channel's hub, noting what is wrong with it. */
  readonly inviteRoute: Route = { name: "invite", method: "POST", path: "/federation/v1/invite", signed: true, handle: (r) => this.onInvite(r) };

  private onInvite(r: RouteRequest): { status: number; body: InviteAnswer } {
    const { origin, rec } = r;
    const invite = r.parse<Invite>("Invite");
    const hub = parseChannelId(invite.channel)?.hub;
    if (hub !== origin || invite.inviter !== origin) rec.problems.push(`invite for ${invite.channel} does not come from its hub/admin (origin ${origin})`);
    if (invite.invitee !== this.self.name) rec.problems.push(`invite names invitee ${invite.invitee}, not ${this.self.name}`);
    this.invitedTo.add(invite.channel);
    if (!this.channels.has(invite.channel)) this.channels.set(invite.channel, { hub: origin, events: new Map(), heads: [] });
    const held = this.channels.get(invite.channel)!.events.size;
    return { status: 200, body: { channel: invite.channel, accepted: true, events_since: held > 0 ? held : null } };
  }

  /** A hub's transaction, participant side: heads, then events in seq order, then the DLV-09/10 head rules. */
  takeTransaction(txn: Transaction, origin: string, rec: InboundRecord, result: TransactionResult): void {
    for (const head of txn.heads ?? []) this.takeHead(head, origin, rec);
    for (const ev of [...(txn.events ?? [])].sort((a, b) => a.seq - b.seq)) this.takeEvent(ev, origin, rec, result);
  }

  /** DLV-09/DLV-10: a hub's every transaction carries a head for each channel we share, at or above its events. */
  checkHeads(txn: Transaction, origin: string, rec: InboundRecord): void {
    const heads = new Map((txn.heads ?? []).map((h) => [h.channel, h]));
    for (const [channel, ch] of this.channels) {
      if (ch.hub !== origin || this.removedFrom.has(channel) || ch.events.size === 0) continue;
      if (!heads.has(channel)) rec.problems.push(`transaction from hub ${origin} lacks a head for shared channel ${channel} (DLV-09)`);
    }
    for (const ev of txn.events ?? []) {
      const head = heads.get(ev.channel);
      if (head && head.seq < ev.seq) rec.problems.push(`head for ${ev.channel} states seq ${head.seq}, below event seq ${ev.seq} of the same transaction (DLV-10)`);
    }
  }

  private takeHead(head: ChannelHead, origin: string, rec: InboundRecord): void {
    const ch = this.channels.get(head.channel);
    const inst = this.directory.find(origin);
    if (parseChannelId(head.channel)?.hub !== origin) rec.problems.push(`head for ${head.channel} sent by non-hub ${origin}`);
    else if (inst && !headVerifies(inst.key, head)) rec.problems.push(`head for ${head.channel} seq ${head.seq}: hub_signature does not verify`);
    if (ch) ch.heads.push(head);
    else rec.problems.push(`head for ${head.channel}, a channel the fake peer is not a member of`);
  }

  /** Verifies everything a participant must of one event (spec §7.4, §8.5). */
  private takeEvent(ev: Event, origin: string, rec: InboundRecord, result: TransactionResult): void {
    const reject = (errcode: RejectedItem["errcode"], why: string): void => {
      rec.problems.push(`event ${ev.event_id} (seq ${ev.seq}): ${why}`);
      result.rejected.push({ id: ev.event_id, errcode, error: why });
    };
    const ch = this.channels.get(ev.channel);
    if (parseChannelId(ev.channel)?.hub !== origin) return reject("SMCP_NOT_HUB", `sent by ${origin}, not the channel's hub`);
    if (!ch) return reject("SMCP_NOT_MEMBER", "channel the fake peer was never invited to");
    const left = this.removedFrom.get(ev.channel);
    if (left !== undefined && ev.seq > left) return reject("SMCP_NOT_MEMBER", `delivered after the fake peer's leave at seq ${left} (DLV-02)`);
    const problem = eventProblem(this.directory.get(origin).key, ev);
    if (problem) return reject("SMCP_BAD_EVENT", problem);
    const held = ch.events.get(ev.seq);
    if (held && held.event_id !== ev.event_id) return reject("SMCP_EQUIVOCATION", `seq ${ev.seq} was ${held.event_id} before`);
    const before = ch.events.get(ev.seq - 1);
    if (before && ev.prev_event !== before.event_id) rec.problems.push(`event seq ${ev.seq}: prev_event ${ev.prev_event} is not ${before.event_id}`);
    const after = ch.events.get(ev.seq + 1);
    if (after && after.prev_event !== ev.event_id) rec.problems.push(`event seq ${ev.seq + 1} does not chain to ${ev.event_id}`);
    ch.events.set(ev.seq, ev);
    if (ev.type === "smcp:member.leave" && (ev.data as { server?: unknown }).server === this.self.name) this.removedFrom.set(ev.channel, ev.seq);
    result.processed.push(ev.event_id);
  }
}
