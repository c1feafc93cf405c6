// Conformance harness: protocol 1.1 (spec §7.5 sender signatures, §9.8 leaving, §14 versions) — fresh fake peers play
// 1.0 or 1.1 hubs, senders and participants; a target that does not list "1.1" has these checks excluded, not passed.
import { verifyForm } from "../../protocol/signing.ts";
import { senderForm, signSubmission } from "../../protocol/sender-signature.ts";
import type { Event, LeaveAnswer, Submission, Transaction, TransactionResult } from "../../protocol/types.ts";
import { ensure, expectError, expectOk } from "../assert.ts";
import { perTarget, type Check, type CheckContext, type Role, type Target } from "../context.ts";
import { FakePeer } from "../fake-peer.ts";
import { uid } from "./support/requests.ts";
import { known, needs11 } from "./support/state.ts";

const V11_ONLY = "this check needs protocol 1.1 (spec §14 VER-11)";

const V11 = ["1.0", "1.1"];

/** Excludes the check for a target whose discovery does not list 1.1 (VER-11: no 1.1 feature is owed by it). */
/** A fresh fake identity playing `versions`, known to the target before the target first looks it up. */
async function freshPeer(ctx: CheckContext, t: Required<Target>, role: Role, tag: string, versions: string[]): Promise<FakePeer> {
  const peer = await FakePeer.start(`${tag}-${ctx.runId}-${role[0]}.test`, ctx.recorder);
  peer.playVersions(versions);
  peer.addInstance(t.name, t.discovery.endpoint, t.key);
  await t.control.mapHost(peer.name, peer.url);
  return peer;
}

/** A channel the fake hubs with the target joined: invite accepted, create + join delivered. */
async function hubWithTarget(ctx: CheckContext, hub: FakePeer, t: Required<Target>, extraMembers: string[] = []): Promise<string> {
  const ch = hub.hubCreate(uid(ctx, "v11"));
  for (const m of [t.name, ...extraMembers]) {
    ch.members.add(m);
    hub.hubAppend(ch.id, "smcp:member.join", { server: m });
  }
  const answer = expectOk<{ accepted: boolean }>(await hub.sendInvite(t.name, ch.id), "InviteAnswer", "invite", 200);
  ensure(answer.accepted, "the invite was declined; the conformance profile accepts every authenticated invite (CONF-10)", true, answer);
  const txn = expectOk<TransactionResult>(await hub.sendTransaction(t.name, { events: ch.events, heads: [hub.hubHead(ch.id)] }), "TransactionResult", "the channel's first events", 200);
  ensure(txn.rejected.length === 0, "the instance refused the channel's create and join events", [], txn.rejected);
  return ch.id;
}

/** Sends the fake hub's events one transaction at a time and returns the per-item outcome of each. */
async function deliver(hub: FakePeer, t: Target, events: Event[]): Promise<TransactionResult> {
  return expectOk<TransactionResult>(await hub.sendTransaction(t.name, { events }), "TransactionResult", "events from the fake hub", 200);
}

function rejectedAs(r: TransactionResult, id: string): string | undefined {
  return r.rejected.find((x) => x.id === id)?.errcode;
}

/** Events of `channel` in the transactions `peer` received from `from` after record index `since`. */
function receivedEvents(peer: FakePeer, from: string, channel: string, since = 0): Event[] {
  return peer.records.slice(since).filter((r) => r.route === "send" && r.origin === from)
    .flatMap((r) => ((r.body as Transaction | undefined)?.events ?? []).filter((e) => e.channel === channel));
}

export const v11Checks: Check[] = [
  ...perTarget((role) => ({
    id: "v11/versions/no-leave-toward-old-hub",
    name: "asked to leave a channel of a 1.0-only hub, the instance answers 400 SMCP_INVALID, sends the hub no leave and stays joined",
    requirements: ["VER-11", "CHAN-29", "CHAN-36"],
    level: "MUST",
    prerequisites: ["sc/discovery/well-known@@"],
    async run(ctx) {
      const t = known(ctx, role);
      needs11(t, V11_ONLY);
      const hub = await freshPeer(ctx, t, role, "hub10", ["1.0"]);
      try {
        const channel = await hubWithTarget(ctx, hub, t);
        const r = await t.control.request("POST", `/control/v1/channels/${encodeURIComponent(channel)}/leave`);
        expectError(r, "SMCP_INVALID", "leave toward a 1.0 hub");
        const leaves = hub.records.filter((x) => x.route === "leave");
        ensure(leaves.length === 0, "the instance sent a leave to a hub that does not list 1.1", 0, leaves.length);
        const view = await t.control.channel(channel);
        ensure(view.joined, "the instance no longer reports itself joined", true, view.joined);
      } finally {
        await hub.close();
      }
    },
  })),
  ...perTarget((role) => ({
    id: "v11/sender-sig/signs-submissions",
    name: "the instance's submissions to a 1.1 hub carry its sender_signature over smcp.submission.v1",
    requirements: ["EVT-21", "EVT-22", "JCS-13"],
    level: "MUST",
    prerequisites: ["sc/discovery/well-known@@"],
    async run(ctx) {
      const t = known(ctx, role);
      needs11(t, V11_ONLY);
      const hub = await freshPeer(ctx, t, role, "hub11", V11);
      try {
        const channel = await hubWithTarget(ctx, hub, t);
        await t.control.publish(channel, "conf:signed", { n: 1 });
        const subs = hub.records.filter((r) => r.route === "send" && r.origin === t.name)
          .flatMap((r) => (r.body as Transaction | undefined)?.submissions ?? []).filter((s) => s.channel === channel);
        ensure(subs.length === 1, "the hub did not receive exactly one submission", 1, subs.length);
        const sub = subs[0]! as Submission;
        ensure(sub.sender_signature !== undefined, "a submission to a 1.1 hub carries no sender_signature", "sender_signature", sub);
        ensure(verifyForm(t.key, senderForm(sub), sub.sender_signature), "sender_signature does not verify with the instance's key over smcp.submission.v1", "a valid signature", sub.sender_signature);
      } finally {
        await hub.close();
      }
    },
  })),
  ...perTarget((role) => ({
    id: "v11/sender-sig/forged-refused",
    name: "events a 1.1 hub forges for a 1.1 sender (no or a bad sender_signature) are refused with SMCP_BAD_EVENT and not stored; a properly signed one and a 1.0 sender's unsigned one are stored",
    requirements: ["EVT-23", "EVT-28", "EVT-29", "EVT-27", "EVT-33", "VER-12"],
    level: "MUST",
    prerequisites: ["sc/discovery/well-known@@"],
    async run(ctx) {
      const t = known(ctx, role);
      needs11(t, V11_ONLY);
      const hub = await freshPeer(ctx, t, role, "forger", V11);
      const sender = await freshPeer(ctx, t, role, "speaker", V11);
      const old = await freshPeer(ctx, t, role, "oldtimer", ["1.0"]);
      try {
        const channel = await hubWithTarget(ctx, hub, t, [sender.name, old.name]);
        const ch = hub.hubChannel(channel);
        const text = { text: "words the sender never said" };
        // Each forged event is tried at the same seq; it is dropped from the fake's chain once refused.
        const attempt = async (make: () => Event): Promise<[Event, TransactionResult]> => {
          const e = make();
          const r = await deliver(hub, t, [e]);
          if (rejectedAs(r, e.event_id) !== undefined) ch.events.pop();
          return [e, r];
        };
        const [unsigned, r1] = await attempt(() => hub.hubAppend(channel, "conf:forged", text, sender.name));
        ensure(rejectedAs(r1, unsigned.event_id) === "SMCP_BAD_EVENT", "an event of a 1.1 sender without sender_signature was not refused", "SMCP_BAD_EVENT", r1);
        const [badSig, r2] = await attempt(() => hub.hubAppend(channel, "conf:forged", text, sender.name, {
          submission_id: "forged-1",
          // Signed by the hub, not by the sender it names.
          sender_signature: signSubmission(hub.key, { submission_id: "forged-1", channel, type: "conf:forged", sender: sender.name, origin_ts: 1, data: text }).sender_signature!,
          origin_ts: 1,
        }));
        ensure(rejectedAs(r2, badSig.event_id) === "SMCP_BAD_EVENT", "an event whose sender_signature the hub made was not refused", "SMCP_BAD_EVENT", r2);
        const signed = signSubmission(sender.key, { submission_id: "genuine-1", channel, type: "conf:said", sender: sender.name, origin_ts: Date.now(), data: { text: "said" } });
        const [good, r3] = await attempt(() => hub.hubAppend(channel, signed.type, signed.data, sender.name, {
          submission_id: signed.submission_id, sender_signature: signed.sender_signature!, origin_ts: signed.origin_ts,
        }));
        ensure(r3.processed.includes(good.event_id), "a properly sender-signed event was not accepted", "processed", r3);
        const [fromOld, r4] = await attempt(() => hub.hubAppend(channel, "conf:said", { text: "1.0 words" }, old.name));
        ensure(r4.processed.includes(fromOld.event_id), "a 1.0 sender's unsigned event was refused (1.0 senders keep working)", "processed", r4);
        const held = await t.control.allEvents(channel);
        const forged = held.filter((e) => e.type === "conf:forged");
        ensure(forged.length === 0, "the instance stores events forged for a 1.1 sender", 0, forged.length);
        ensure(held.some((e) => e.event_id === good.event_id) && held.some((e) => e.event_id === fromOld.event_id), "the accepted events are not readable", [good.event_id, fromOld.event_id], held.map((e) => e.event_id));
      } finally {
        await Promise.all([hub.close(), sender.close(), old.close()]);
      }
    },
  })),
  ...perTarget((role) => ({
    id: "v11/sender-sig/hub-refuses",
    name: "as a 1.1 hub the instance refuses a 1.1 sender's unsigned or badly signed submission with SMCP_BAD_EVENT, and keeps a good one's submission_id and sender_signature in the event, backfill included",
    requirements: ["EVT-24", "EVT-25", "EVT-26", "EVT-32"],
    level: "MUST",
    prerequisites: ["sc/discovery/well-known@@"],
    async run(ctx) {
      const t = known(ctx, role);
      needs11(t, V11_ONLY);
      const member = await freshPeer(ctx, t, role, "member11", V11);
      try {
        const channel = (await t.control.createChannel(uid(ctx, "v11-hub"))).channel;
        const outcome = await t.control.invite(channel, member.name);
        ensure(outcome.accepted, "the fake 1.1 member's invite was not accepted", true, outcome);
        const base: Submission = { submission_id: uid(ctx, "s"), channel, type: "conf:sub", sender: member.name, origin_ts: Date.now(), data: { n: 1 } };
        const unsigned = { ...base, submission_id: uid(ctx, "unsigned") };
        const bad = { ...signSubmission(member.key, base), submission_id: uid(ctx, "bad") }; // signed for another submission_id
        const good = signSubmission(member.key, { ...base, submission_id: uid(ctx, "good") });
        const r = expectOk<TransactionResult>(await member.sendTransaction(t.name, { submissions: [unsigned, bad, good] }), "TransactionResult", "submissions", 200);
        ensure(rejectedAs(r, unsigned.submission_id) === "SMCP_BAD_EVENT", "an unsigned submission of a 1.1 sender was not refused", "SMCP_BAD_EVENT", r);
        ensure(rejectedAs(r, bad.submission_id) === "SMCP_BAD_EVENT", "a submission whose sender_signature does not verify was not refused", "SMCP_BAD_EVENT", r);
        const seq = r.sequenced.find((s) => s.submission_id === good.submission_id)?.seq;
        ensure(seq !== undefined && r.sequenced.length === 1, "exactly the signed submission is sequenced", 1, r.sequenced);
        const page = expectOk<{ events: Event[] }>(
          await member.send(t.name, { method: "GET", path: `/federation/v1/channels/${encodeURIComponent(channel)}/events?after=0&limit=100` }), "BackfillPage", "backfill", 200,
        );
        const ev = page.events.find((e) => e.seq === seq);
        ensure(ev?.submission_id === good.submission_id && ev.sender_signature === good.sender_signature && ev.origin_ts === good.origin_ts,
          "the event does not keep the submission's submission_id, sender_signature and origin_ts", good, ev);
        ensure(page.events.filter((e) => e.sender === member.name).length === 1, "more than the signed submission was sequenced", 1, page.events.filter((e) => e.sender === member.name).length);
      } finally {
        await member.close();
      }
    },
  })),
  ...perTarget((role) => ({
    id: "v11/leave/hub-sequences",
    name: "as a 1.1 hub the instance sequences a member's own leave, answers a retry the same, delivers the leaver nothing after it, and refuses its calls",
    requirements: ["CHAN-30", "CHAN-31", "CHAN-32", "CHAN-33", "CHAN-34", "DLV-38", "CALL-21"],
    level: "MUST",
    prerequisites: ["sc/discovery/well-known@@"],
    async run(ctx) {
      const t = known(ctx, role);
      needs11(t, V11_ONLY);
      const leaver = await freshPeer(ctx, t, role, "leaver", V11);
      try {
        const channel = (await t.control.createChannel(uid(ctx, "v11-leave"))).channel;
        ensure((await t.control.invite(channel, leaver.name)).accepted, "the fake 1.1 member's invite was not accepted", true, false);
        const body = { origin: leaver.name, channel, origin_ts: Date.now() };
        const first = expectOk<LeaveAnswer>(await leaver.send(t.name, { method: "POST", path: "/federation/v1/leave", body }), "LeaveAnswer", "leave", 200);
        const again = expectOk<LeaveAnswer>(await leaver.send(t.name, { method: "POST", path: "/federation/v1/leave", body }), "LeaveAnswer", "repeated leave", 200);
        ensure(again.seq === first.seq && again.event_id === first.event_id, "a repeated leave was not answered with the same leave event", first, again);
        const view = await t.control.channel(channel);
        ensure(!view.members.includes(leaver.name), "the hub still lists the leaver as a member", "no leaver", view.members);
        const events = await t.control.allEvents(channel);
        const leave = events.find((e) => e.seq === first.seq);
        ensure(leave?.type === "smcp:member.leave" && leave.event_id === first.event_id, "the answered leave event is not the channel's smcp:member.leave", first, leave);
        const d = leave.data as Record<string, unknown>;
        ensure(d.server === leaver.name && d.by === t.name && d.initiator === leaver.name, "the leave's data is not {server, by: hub, initiator: leaver}", { server: leaver.name, by: t.name, initiator: leaver.name }, d);
        ensure(events.filter((e) => e.type === "smcp:member.leave").length === 1, "the leave was sequenced more than once", 1, events.filter((e) => e.type === "smcp:member.leave").length);
        const call = await leaver.send(t.name, { method: "POST", path: "/federation/v1/call", body: { origin: leaver.name, call_id: uid(ctx, "left-call"), target: `smcp://${t.name}/vikunja`, tool: "list_tasks", params: {} } });
        expectError(call, "SMCP_FORBIDDEN", "a call from a member that left the only channel it shared with the hub");
        for (let i = 0; i < 3; i++) await t.control.publish(channel, "conf:after-leave", { i });
        // Barrier: the leaver's join of a second channel travels the same queue after those three events would have.
        const since = leaver.records.length;
        const other = (await t.control.createChannel(uid(ctx, "v11-barrier"))).channel;
        ensure((await t.control.invite(other, leaver.name)).accepted, "the barrier invite was not accepted", true, false);
        const arrived = await leaver.waitUntil(() => receivedEvents(leaver, t.name, other, since).some((e) => e.type === "smcp:member.join"), ctx.options.deliveryTimeoutMs * 5);
        ensure(arrived, "the barrier channel's join never reached the fake peer", "delivered", "nothing");
        const late = receivedEvents(leaver, t.name, channel).filter((e) => e.seq > first.seq);
        ensure(late.length === 0, "the hub delivered events of the channel to the member that left it", 0, late.map((e) => e.seq));
        // No membership left behind: the closed fake must not keep a queue (or call rights) at the instance.
        await t.control.request("DELETE", `/control/v1/channels/${encodeURIComponent(other)}/members/${leaver.name}`);
      } finally {
        await leaver.close();
      }
    },
  })),
  ...perTarget((role) => ({
    id: "v11/leave/participant-leaves",
    name: "asked to leave a 1.1 hub's channel, the instance sends the hub a leave, reports joined: false, takes its own leave event, refuses the channel's later events with SMCP_NOT_MEMBER, and takes them again once re-invited",
    requirements: ["CHAN-29", "CHAN-35", "CHAN-37", "CHAN-38"],
    level: "MUST",
    prerequisites: ["sc/discovery/well-known@@"],
    async run(ctx) {
      const t = known(ctx, role);
      needs11(t, V11_ONLY);
      const hub = await freshPeer(ctx, t, role, "hub-left", V11);
      try {
        const channel = await hubWithTarget(ctx, hub, t);
        const r = await t.control.request("POST", `/control/v1/channels/${encodeURIComponent(channel)}/leave`);
        const info = expectOk<{ joined: boolean }>(r, "ChannelInfo", "control leave", 200);
        ensure(info.joined === false, "the instance still reports itself joined after leaving", false, info.joined);
        const leave = hub.hubLeaves.find((e) => e.channel === channel);
        ensure(leave !== undefined, "the hub received no leave from the instance", "POST /federation/v1/leave", "none");
        const took = await deliver(hub, t, [leave]);
        ensure(took.processed.includes(leave.event_id), "the leaver refused its own leave event", "processed", took);
        const after = hub.hubAppend(channel, "conf:after-leave", { n: 1 });
        const refused = await deliver(hub, t, [after]);
        ensure(rejectedAs(refused, after.event_id) === "SMCP_NOT_MEMBER", "the leaver accepted an event after its leave", "SMCP_NOT_MEMBER", refused);
        // Re-invited (CHAN-38): joined again, the events it refused are taken, up to its new join.
        const again = expectOk<{ accepted: boolean }>(await hub.sendInvite(t.name, channel), "InviteAnswer", "invite after leaving", 200);
        ensure(again.accepted, "the re-invite was declined", true, again);
        hub.hubChannel(channel).members.add(t.name);
        const rejoin = hub.hubAppend(channel, "smcp:member.join", { server: t.name });
        const back = await deliver(hub, t, [after, rejoin]);
        ensure(back.processed.includes(after.event_id) && back.processed.includes(rejoin.event_id), "after a new invite the instance still refuses the channel's events", "both processed", back);
      } finally {
        await hub.close();
      }
    },
  })),
];
