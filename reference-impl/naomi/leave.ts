// Naomi (event bus), protocol 1.1: a member leaves a channel on its own — the participant asks the hub, which sequences
// the member's smcp:member.leave like a removal (its queue to the leaver ends there), and the leaver stops taking the
// channel's events after it (spec §9.8 CHAN-29..CHAN-40).
import { SmcpError } from "../../protocol/errors.ts";
import { errorFromAnswer } from "../../protocol/http-client.ts";
import { parseChannelId } from "../../protocol/identity.ts";
import { validate } from "../../protocol/schemas.ts";
import type { Leave, LeaveAnswer } from "../../protocol/types.ts";
import { speaks } from "../../protocol/versions.ts";
import type { FederationSender } from "../federation-sender.ts";
import type { Store } from "../storage/db.ts";
import type { AfterCommit } from "./after-commit.ts";
import { channelRow } from "./channel-rows.ts";
import { newEffects } from "./effects.ts";
import type { Sequencer } from "./sequencer.ts";

export interface LeavesOptions {
  self: string;
  store: Store;
  sender: FederationSender;
  sequencer: Sequencer;
  afterCommit: AfterCommit;
  /** A hub's versions through discovery (cached; forced when unknown); throws SMCP_PEER_UNREACHABLE when it fails. */
  discoverVersions: (server: string) => Promise<readonly string[]>;
  now: () => number;
}

/** The hub's rejections a leaving participant relays as they are (CHAN-39); any other answer is 502. */
const RELAYED = new Set(["SMCP_NOT_MEMBER", "SMCP_NOT_HUB", "SMCP_UNKNOWN_CHANNEL"]);

export class Leaves {
  constructor(private readonly opts: LeavesOptions) {}

  /**
   * Hub side (CHAN-30..CHAN-33): sequences the leaver's smcp:member.leave with `initiator` = the leaver, once; a repeat
   * from a server that is no longer a member is answered with the leave event that ended its membership.
   */
  handleLeave(origin: string, leave: Leave): LeaveAnswer {
    const { self, store, sequencer, now } = this.opts;
    if (parseChannelId(leave.channel)?.hub !== self) throw new SmcpError("SMCP_NOT_HUB", `${leave.channel} is not hubbed by ${self}`);
    if (!store.channel(leave.channel)) throw new SmcpError("SMCP_UNKNOWN_CHANNEL", `no channel ${leave.channel} here`);
    const member = store.member(leave.channel, origin);
    if (!member) throw new SmcpError("SMCP_NOT_MEMBER", `${origin} has never been a member of ${leave.channel}`);
    if (member.left_seq !== null) return this.answerAt(leave.channel, member.left_seq);
    const effects = newEffects();
    const event = sequencer.hubTx(() =>
      sequencer.sequence(leave.channel, "smcp:member.leave", self, now(), { server: origin, by: self, initiator: origin }, effects));
    this.opts.afterCommit.run(effects);
    return { channel: leave.channel, event_id: event.event_id, seq: event.seq };
  }

  /**
   * Participant side, through the control API (CHAN-36..CHAN-40): only toward a hub that lists 1.1; on the hub's
   * answer the channel is no longer joined, and events after the answered leave are refused (the receiver's rule).
   */
  async leave(channel: string): Promise<void> {
    const { self, store, sender } = this.opts;
    const row = channelRow(store, channel);
    if (row.role === "hub") {
      throw new SmcpError("SMCP_INVALID", "the hub is a member of its channel for its whole life (CHAN-03)", { details: [{ path: "", message: "this instance hubs the channel" }] });
    }
    if (row.joined !== 1) throw new SmcpError("SMCP_NOT_MEMBER", `${self} is not joined to ${channel}`);
    const versions = await this.opts.discoverVersions(row.hub);
    if (!speaks(versions, "1.1")) {
      throw new SmcpError("SMCP_INVALID", `the hub ${row.hub} does not list protocol 1.1, which leaving needs`, { details: [{ path: "", message: `${row.hub} lists ${versions.join(", ")}` }] });
    }
    const body: Leave = { origin: self, channel, origin_ts: this.opts.now() };
    const answer = await sender.request(row.hub, "POST", "/federation/v1/leave", body, { timeoutMs: 10_000 });
    if (answer.status !== 200) {
      const e = errorFromAnswer(answer, row.hub);
      if (RELAYED.has(e.errcode)) throw e;
      throw new SmcpError("SMCP_PEER_UNREACHABLE", `${row.hub} refused the leave: ${e.errcode} ${e.message}`, { retryAfterMs: 1000 });
    }
    const reply = answer.body as LeaveAnswer;
    if (validate("LeaveAnswer", reply).length > 0 || reply.channel !== channel) {
      throw new SmcpError("SMCP_PEER_UNREACHABLE", `${row.hub} answered an invalid LeaveAnswer`, { retryAfterMs: 1000 });
    }
    store.tx(() => {
      store.putOwnLeave(channel, reply.seq);
      store.setJoined(channel, false);
    });
  }

  private answerAt(channel: string, seq: number): LeaveAnswer {
    const event = this.opts.store.event(channel, seq);
    if (!event) throw new SmcpError("SMCP_INTERNAL", `leave event ${seq} of ${channel} is missing`);
    return { channel, event_id: event.event_id, seq };
  }
}
