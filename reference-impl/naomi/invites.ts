// Naomi (event bus): invites and removal — the hub asks and sequences the join once, the invitee accepts per its
// invite policy (allow-listed hubs, or every hub in the conformance profile), the hub sequences a removal (spec §9.1, §9.5).
import { SmcpError } from "../../protocol/errors.ts";
import { errorFromAnswer } from "../../protocol/http-client.ts";
import { parseChannelId } from "../../protocol/identity.ts";
import { validate } from "../../protocol/schemas.ts";
import type { Invite, InviteAnswer, InviteOutcome } from "../../protocol/types.ts";
import type { FederationSender } from "../federation-sender.ts";
import type { Store } from "../storage/db.ts";
import type { AfterCommit } from "./after-commit.ts";
import { hubRow } from "./channel-rows.ts";
import { newEffects } from "./effects.ts";
import type { Receiver } from "./receiver.ts";
import type { Sequencer } from "./sequencer.ts";

export interface InvitesOptions {
  self: string;
  store: Store;
  sender: FederationSender;
  sequencer: Sequencer;
  afterCommit: AfterCommit;
  /** Told when a participation starts: the new channel has just heard from its hub. */
  receiver: Receiver;
  /** Hubs whose invites are accepted (spec §9.1 CHAN-26). */
  inviteAllowList?: string[];
  /** The conformance profile (spec §16 CONF-10): every authenticated hub's invites are accepted. */
  acceptAllInvites?: boolean;
  /** Joined channels of one hub at most, and of all hubs together; invites beyond are declined (spec §9.1 CHAN-27). */
  maxParticipationsPerHub: number;
  maxParticipations: number;
  now: () => number;
}

export class Invites {
  constructor(private readonly opts: InvitesOptions) {}

  /** Hub side of an invite (spec §9.1): asks the server, then sequences its join exactly once. */
  async invite(channel: string, server: string): Promise<InviteOutcome> {
    const { self, store, sender } = this.opts;
    hubRow(store, channel);
    if (server === self) throw new SmcpError("SMCP_INVALID", "the hub is already a member and cannot invite itself", { details: [{ path: "/server", message: "the hub itself" }] });
    if (store.member(channel, server)?.left_seq === null) return { channel, server, accepted: true };
    const body: Invite = { origin: self, channel, inviter: self, invitee: server, origin_ts: this.opts.now() };
    const answer = await sender.request(server, "POST", "/federation/v1/invite", body, { timeoutMs: 10_000 });
    if (answer.status !== 200) {
      const e = errorFromAnswer(answer, server);
      throw new SmcpError("SMCP_PEER_UNREACHABLE", `${server} refused the invite: ${e.errcode} ${e.message}`, { retryAfterMs: 1000 });
    }
    const issues = validate("InviteAnswer", answer.body);
    const reply = answer.body as InviteAnswer;
    if (issues.length > 0 || reply.channel !== channel) throw new SmcpError("SMCP_PEER_UNREACHABLE", `${server} answered an invalid InviteAnswer`, { retryAfterMs: 1000 });
    if (reply.accepted) this.join(channel, server);
    return { channel, server, accepted: reply.accepted };
  }

  /** Removal (spec §9.5): the leave event reaches the removed server too, then nothing more does. */
  remove(channel: string, server: string): void {
    const { self, store, sequencer, now } = this.opts;
    hubRow(store, channel);
    if (server === self) throw new SmcpError("SMCP_INVALID", "the hub cannot be removed from its own channel", { details: [{ path: "/server", message: "the hub itself" }] });
    if (store.member(channel, server)?.left_seq !== null) throw new SmcpError("SMCP_NOT_FOUND", `${server} is not a member of ${channel}`);
    const effects = newEffects();
    sequencer.hubTx(() => sequencer.sequence(channel, "smcp:member.leave", self, now(), { server, by: self }, effects));
    this.opts.afterCommit.run(effects);
  }

  /** Invitee side (spec §9.1): accept per the invite policy (CHAN-26), idempotently. */
  handleInvite(origin: string, invite: Invite): InviteAnswer {
    const { self, store, now } = this.opts;
    if (invite.invitee !== self) throw new SmcpError("SMCP_INVALID", `invite is for ${invite.invitee}, this is ${self}`);
    const parsed = parseChannelId(invite.channel);
    if (!parsed || parsed.hub !== origin || invite.inviter !== origin) {
      throw new SmcpError("SMCP_NOT_HUB", `only the hub of ${invite.channel} may invite into it`);
    }
    const allowed = this.opts.acceptAllInvites === true || (this.opts.inviteAllowList ?? []).includes(origin);
    const existing = store.channel(invite.channel);
    if (existing?.role === "hub") throw new SmcpError("SMCP_CONFLICT", `${invite.channel} is hubbed here`);
    const eventsSince = existing && existing.local_seq > 0 ? existing.local_seq : null;
    // A repeated invite for a channel already joined is accepted again (CHAN-12) whatever the bounds say now.
    if (!allowed || (existing?.joined !== 1 && this.overBound(origin))) return { channel: invite.channel, accepted: false, events_since: eventsSince };
    store.tx(() => {
      if (!existing) {
        store.insertChannel({ channel: invite.channel, hub: origin, role: "participant", joined: 1, local_seq: 0, known_seq: 0, created_ts: now() });
      } else {
        store.setJoined(invite.channel, true);
        store.clearOwnLeave(invite.channel); // a new participation: its earlier leave no longer bounds what it takes
      }
    });
    this.opts.receiver.heard(invite.channel);
    return { channel: invite.channel, accepted: true, events_since: eventsSince };
  }

  /** Whether one more participation with `hub` would exceed a bound of CHAN-27 (joined channels; left ones cost nothing more). */
  private overBound(hub: string): boolean {
    let ofHub = 0;
    let total = 0;
    for (const row of this.opts.store.channels()) {
      if (row.role !== "participant" || row.joined !== 1) continue;
      total++;
      if (row.hub === hub) ofHub++;
    }
    return ofHub >= this.opts.maxParticipationsPerHub || total >= this.opts.maxParticipations;
  }

  private join(channel: string, server: string): void {
    const { self, store, sequencer, now } = this.opts;
    const effects = newEffects();
    sequencer.hubTx(() => {
      if (store.member(channel, server)?.left_seq === null) return;
      sequencer.sequence(channel, "smcp:member.join", self, now(), { server }, effects);
    });
    this.opts.afterCommit.run(effects);
  }
}
