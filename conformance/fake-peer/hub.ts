// Conformance harness, fake peer as a hub: channels `!name:<fake>` it sequences, submissions, fan-out and backfill (spec §7.3, §8.2-§8.4).
import { SmcpError } from "../../protocol/errors.ts";
import { finaliseEvent, isReservedType, signHead } from "../../protocol/events.ts";
import { PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX } from "../../protocol/limits.ts";
import type { ChannelHead, Event, Leave, RejectedItem, SequencedSubmission, Submission, TransactionResult } from "../../protocol/types.ts";
import type { InstanceDirectory } from "./directory.ts";
import type { FakeIdentity } from "./identity.ts";
import type { InboundRecord } from "./observation.ts";
import type { Outbound } from "./outbound.ts";
import type { Answer, Route, RouteRequest } from "./routes.ts";

/** A channel the fake hubs (`!name:<fake>`): its authoritative event list and members. */
export interface HubChannel {
  id: string;
  events: Event[];
  members: Set<string>;
  /** Backfill serves events up to this seq (lets a check withhold the tail or open a gap). */
  servedUpTo: number;
  submissions: Map<string, SequencedSubmission>;
  /** Backfill serves these events instead of the chain's at their seq (a check's deliberately bad backfill, DLV-21). */
  backfillOverride?: Map<number, Event>;
}

/** Spec §8.4: backfill pages hold 1..1000 events, 100 by default. */

export class FakeHub {
  readonly channels = new Map<string, HubChannel>();
  /** Reject every submission from these origins with this errcode, on purpose (not recorded as a problem). */
  readonly refuseSubmissions = new Map<string, RejectedItem["errcode"]>();

  constructor(
    private readonly self: FakeIdentity,
    private readonly directory: InstanceDirectory,
    private readonly outbound: Outbound,
  ) {}

  /** Creates `!name:<fake>` with its `smcp:channel.create` event; members start with the fake alone. */
  create(name: string): HubChannel {
    const id = `!${name}:${this.self.name}`;
    const ch: HubChannel = { id, events: [], members: new Set([this.self.name]), servedUpTo: Number.MAX_SAFE_INTEGER, submissions: new Map() };
    this.channels.set(id, ch);
    this.append(id, "smcp:channel.create", { creator: this.self.name });
    return ch;
  }

  /** Sequences, names and signs a new event in a channel the fake hubs. */
  append(channel: string, type: string, data: Record<string, unknown>, sender = this.self.name, extra: EventExtras = {}): Event {
    const ch = this.channel(channel);
    const prev = ch.events[ch.events.length - 1];
    const now = Date.now();
    const { origin_ts, ...members } = extra;
    const event = finaliseEvent(this.self.key, {
      channel,
      seq: ch.events.length + 1,
      prev_event: prev ? prev.event_id : null,
      type,
      sender,
      origin_ts: origin_ts ?? now,
      hub_ts: now,
      data: data as Event["data"],
      ...members,
    });
    ch.events.push(event);
    return event;
  }

  /** A signed head for the channel at `seq` (default: the newest event). */
  head(channel: string, seq?: number): ChannelHead {
    const ch = this.channel(channel);
    const at = seq ?? ch.events.length;
    return signHead(this.self.key, { channel, seq: at, event_id: at === 0 ? null : ch.events[at - 1]!.event_id, hub_ts: Date.now() });
  }

  channel(channel: string): HubChannel {
    const ch = this.channels.get(channel);
    if (!ch) throw new Error(`the fake peer does not hub ${channel}`);
    return ch;
  }

  /** Sequences a participant's submission once, then (after the answer) fans the event out to every member. */
  takeSubmission(sub: Submission, r: RouteRequest, result: TransactionResult): void {
    const { origin, rec } = r;
    const reject = (errcode: RejectedItem["errcode"], why: string): void => {
      rec.problems.push(`submission ${sub.submission_id}: ${why}`);
      result.rejected.push({ id: sub.submission_id, errcode, error: why });
    };
    const refusal = this.refuseSubmissions.get(origin);
    if (refusal) {
      // A rejection the harness asked for (CTRL-21 relaying): answered per item, not an instance fault.
      result.rejected.push({ id: sub.submission_id, errcode: refusal, error: "the fake hub refuses this submission on purpose" });
      return;
    }
    const ch = this.channels.get(sub.channel);
    if (!ch) return reject("SMCP_NOT_HUB", `${this.self.name} does not hub ${sub.channel}`);
    if (sub.sender !== origin) return reject("SMCP_ORIGIN_MISMATCH", `sender ${sub.sender} is not the origin ${origin}`);
    if (!ch.members.has(origin)) return reject("SMCP_NOT_MEMBER", `${origin} is not a member`);
    if (isReservedType(sub.type)) return reject("SMCP_INVALID", "the smcp: namespace is reserved");
    const key = `${origin} ${sub.submission_id}`;
    let done = ch.submissions.get(key);
    if (!done) {
      // As a 1.1 hub (spec §7.5 EVT-26) the fake keeps a signed submission's proof and its origin_ts (EVT-11).
      const proof = this.self.versions.includes("1.1") && sub.sender_signature !== undefined
        ? { origin_ts: sub.origin_ts, submission_id: sub.submission_id, sender_signature: sub.sender_signature }
        : {};
      const ev = this.append(sub.channel, sub.type, sub.data, origin, proof);
      done = { submission_id: sub.submission_id, event_id: ev.event_id, seq: ev.seq };
      ch.submissions.set(key, done);
      r.afterAnswer(() => this.fanOut(ch, ev));
    }
    result.processed.push(sub.submission_id);
    result.sequenced.push(done);
  }

  private async fanOut(ch: HubChannel, ev: Event): Promise<void> {
    for (const member of ch.members) {
      if (member === this.self.name || !this.directory.has(member)) continue;
      try {
        await this.outbound.sendTransaction(member, { events: [ev], heads: [this.head(ch.id)] });
      } catch {
        // A failed fan-out shows up in the check that waits for the event.
      }
    }
  }

  /** GET /federation/v1/channels/{channel}/events: serves the chain (or a check's withheld or doctored version). */
  readonly backfillRoute: Route = {
    name: "backfill",
    method: "GET",
    path: "/federation/v1/channels/{channel}/events",
    signed: true,
    handle: (r) => this.backfill(r.params.channel!, r.url, r.rec, r.origin),
  };

  /**
   * 1.1 POST /federation/v1/leave (spec §9.8): as a 1.1 hub the fake sequences the member's own leave (CHAN-31) and
   * answers LeaveAnswer; as a 1.0 peer any leave is unexpected (CHAN-29: never sent to a hub that does not list 1.1).
   */
  readonly leaveRoute: Route = {
    name: "leave",
    method: "POST",
    path: "/federation/v1/leave",
    signed: true,
    handle: (r) => {
      if (!this.self.versions.includes("1.1")) {
        r.rec.problems.push("a leave sent to a hub whose discovery does not list 1.1 (CHAN-29)");
        throw new SmcpError("SMCP_NOT_FOUND", "no such endpoint in 1.0");
      }
      const leave = r.parse<Leave>("Leave");
      const ch = this.channels.get(leave.channel);
      if (!ch) throw new SmcpError("SMCP_NOT_HUB", `${leave.channel} is not hubbed here`);
      const done = ch.members.has(r.origin) ? undefined : leaveSeq(ch, r.origin);
      if (done !== undefined) return { status: 200, body: { channel: ch.id, event_id: ch.events[done - 1]!.event_id, seq: done } };
      if (!ch.members.has(r.origin)) throw new SmcpError("SMCP_NOT_MEMBER", `${r.origin} is not a member`);
      ch.members.delete(r.origin);
      const ev = this.append(ch.id, "smcp:member.leave", { server: r.origin, by: this.self.name, initiator: r.origin });
      this.leaves.push(ev);
      return { status: 200, body: { channel: ch.id, event_id: ev.event_id, seq: ev.seq } };
    },
  };

  /** Leave events the fake sequenced for members that left on their own (a check delivers them when it chooses). */
  readonly leaves: Event[] = [];

  private backfill(channel: string, url: URL, rec: InboundRecord, origin: string): Answer {
    const ch = this.channels.get(channel);
    if (!ch) {
      rec.problems.push(`backfill of ${channel}, which the fake peer does not hub`);
      throw new SmcpError("SMCP_UNKNOWN_CHANNEL", `${channel} is not hubbed here`);
    }
    // DLV-20: a removed server may still backfill up to its leave; only one that never was a member asks for nothing it may have.
    const leave = ch.members.has(origin) ? undefined : leaveSeq(ch, origin);
    if (!ch.members.has(origin) && leave === undefined) {
      rec.problems.push(`backfill of ${channel} by non-member ${origin}`);
      throw new SmcpError("SMCP_NOT_MEMBER", `${origin} is not a member`);
    }
    const after = Number(url.searchParams.get("after") ?? "NaN");
    const limit = Number(url.searchParams.get("limit") ?? String(PAGE_LIMIT_DEFAULT));
    if (!Number.isSafeInteger(after) || after < 0 || !Number.isSafeInteger(limit) || limit < 1 || limit > PAGE_LIMIT_MAX) {
      rec.problems.push(`backfill with invalid after/limit: ${url.search}`);
      throw new SmcpError("SMCP_INVALID", `after must be an integer >= 0 and limit 1..${PAGE_LIMIT_MAX}`);
    }
    if (leave !== undefined && after >= leave) throw new SmcpError("SMCP_NOT_MEMBER", `${origin} left at seq ${leave}`);
    const upTo = Math.min(ch.servedUpTo, ch.events.length, leave ?? Number.MAX_SAFE_INTEGER);
    const events = ch.events.slice(after, Math.min(upTo, after + limit)).map((e) => ch.backfillOverride?.get(e.seq) ?? e);
    return { status: 200, body: { channel, events, head: this.head(channel, upTo) } };
  }
}

/** The seq of the last smcp:member.leave removing `server` from the channel, if any. */
function leaveSeq(ch: HubChannel, server: string): number | undefined {
  for (let i = ch.events.length - 1; i >= 0; i--) {
    const e = ch.events[i]!;
    if (e.type === "smcp:member.leave" && (e.data as { server?: unknown }).server === server) return e.seq;
  }
  return undefined;
}

/** Members a check sets on an event the fake hub sequences: a sender's origin_ts, and (1.1) sender proofs, forged or not. */
export interface EventExtras {
  origin_ts?: number;
  submission_id?: string;
  sender_signature?: string;
}
