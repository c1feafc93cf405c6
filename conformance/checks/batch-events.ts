// Conformance harness: events inside one transaction at a participant — each one authenticated on its own (a verified
// neighbour vouches only for its prev_event ancestors), chain links to held events, re-deliveries whose content changed,
// events of a channel from an origin that does not hub it, the seq-1 link, and events counted as items (spec §7.2,
// §7.4, §8.2, §8.5).
import { finaliseEvent } from "../../protocol/events.ts";
import type { HttpAnswer } from "../../protocol/http-client.ts";
import type { Event, InviteAnswer, TransactionResult } from "../../protocol/types.ts";
import { ensure, expectError, expectOk } from "../assert.ts";
import { perTarget, type Check, type CheckContext, type Role } from "../context.ts";
import { fakeChannel, known, sharedChannel } from "./support/state.ts";
import { impostorKey, uid } from "./support/requests.ts";

type Unsigned = Omit<Event, "event_id" | "hub_signature">;

function batchCheck(id: string, name: string, requirements: string[], prerequisites: string[], run: (ctx: CheckContext, role: Role) => Promise<void>): Check[] {
  return perTarget((role) => ({ id, name, requirements, level: "MUST", prerequisites, run: (ctx) => run(ctx, role) }));
}

/** An unsigned event of the fake hub's channel at `seq` linking to `prev`, never added to the hub's chain. */
function rogue(ctx: CheckContext, channel: string, seq: number, prev: string | null): Unsigned {
  return { channel, seq, prev_event: prev, type: "conformance:rogue", sender: ctx.fake.name, origin_ts: Date.now(), hub_ts: Date.now(), data: { marker: uid(ctx, "rogue") } as never };
}

/** The transaction result, with `refused` rejected (one of `codes`) and never exposed on the instance. */
async function expectRejected(ctx: CheckContext, role: Role, channel: string, a: HttpAnswer, refused: Event, codes: string[], where: string): Promise<TransactionResult> {
  const r = expectOk<TransactionResult>(a, "TransactionResult", where, 200);
  const item = r.rejected.find((x) => x.id === refused.event_id);
  ensure(item && codes.includes(item.errcode) && !r.processed.includes(refused.event_id), `${where}: not rejected with ${codes.join(" or ")}`, { rejected: [{ id: refused.event_id, errcode: codes.join("|") }] }, r);
  const evs = await known(ctx, role).control.allEvents(channel);
  const exposed = evs.find((e) => e.seq === refused.seq);
  ensure(!exposed || exposed.event_id !== refused.event_id || JSON.stringify(exposed.data) !== JSON.stringify(refused.data), `${where}: the refused event is exposed`, "absent", exposed);
  return r;
}

const HUB_PREREQ = ["adv/hub/unknown-type-and-members@@"];

export const batchEventChecks: Check[] = [
  ...batchCheck("adv/batch/unlinked-neighbour", "in one transaction, a verified event does not vouch for a badly signed event after it: that one is rejected with SMCP_BAD_EVENT", ["EVT-18", "TXN-27"], HUB_PREREQ, async (ctx, role) => {
    const t = known(ctx, role);
    const ch = fakeChannel(ctx, role);
    const good = ctx.fake.hubAppend(ch, "conformance:message", { n: "verified" });
    // Linked to the verified event, but the verified event is not linked to it: it is no ancestor (EVT-18).
    const forged = finaliseEvent(impostorKey(ctx), rogue(ctx, ch, good.seq + 1, good.event_id));
    const a = await ctx.fake.sendTransaction(t.name, { events: [good, forged], heads: [ctx.fake.hubHead(ch)] });
    const r = await expectRejected(ctx, role, ch, a, forged, ["SMCP_BAD_EVENT"], "badly signed event next to a verified one");
    ensure(r.processed.includes(good.event_id), "the verified event was not processed", good.event_id, r);
  }),
  ...batchCheck("adv/batch/prev-link", "a hub-signed event whose prev_event is not the held event before it is rejected (SMCP_BAD_EVENT or SMCP_EQUIVOCATION)", ["EVT-10", "DLV-23"], HUB_PREREQ, async (ctx, role) => {
    const t = known(ctx, role);
    const ch = fakeChannel(ctx, role);
    const chain = ctx.fake.hubChannel(ch).events;
    const wrongPrev = "$" + "E".repeat(43); // a well-formed event ID (last character with zero trailing bits) of no held event
    const ev = finaliseEvent(ctx.fake.key, rogue(ctx, ch, chain.length + 1, wrongPrev));
    await expectRejected(ctx, role, ch, await ctx.fake.sendTransaction(t.name, { events: [ev] }), ev, ["SMCP_BAD_EVENT", "SMCP_EQUIVOCATION"], "event linking to an event that is not the held one");
  }),
  ...batchCheck("adv/batch/changed-redelivery", "a held event re-delivered under its event_id with changed data is rejected with SMCP_BAD_EVENT and the held one is kept", ["TXN-27", "TXN-23", "EVT-15"], HUB_PREREQ, async (ctx, role) => {
    const t = known(ctx, role);
    const ch = fakeChannel(ctx, role);
    const held = ctx.fake.hubChannel(ch).events[1]!;
    const changed = { ...held, data: { ...(held.data as object), x_changed: uid(ctx, "changed") } as never };
    const r = expectOk<TransactionResult>(await ctx.fake.sendTransaction(t.name, { events: [changed] }), "TransactionResult", "held event with changed data", 200);
    const item = r.rejected.find((x) => x.id === held.event_id);
    ensure(item?.errcode === "SMCP_BAD_EVENT" && !r.processed.includes(held.event_id), "a re-delivery with changed content under a held event_id was not rejected", { rejected: [{ id: held.event_id, errcode: "SMCP_BAD_EVENT" }] }, r);
    const stored = (await t.control.events(ch, held.seq - 1, 0, 1)).events[0];
    ensure(stored && JSON.stringify(stored.data) === JSON.stringify(held.data), "the held event was changed", held.data, stored?.data);
  }),
  ...batchCheck("adv/batch/not-the-hub", "events of a channel the instance joined on another hub, sent and signed by the fake peer, are rejected with SMCP_NOT_HUB", ["TXN-27", "EVT-18"], ["sc/calls/bob-grants-alice", "sc/channel/bob-joins", "adv/sign/baseline@@"], async (ctx, role) => {
    const t = known(ctx, role);
    // bob is a member of alice's success-criteria channel; alice of the channel bob hubs to grant her calls.
    const ch = role === "bob" ? sharedChannel(ctx) : `!calls-${ctx.runId}:${known(ctx, "bob").name}`;
    const info = await t.control.channel(ch);
    ensure(info.role === "participant" && info.hub !== ctx.fake.name, "the harness's channel is not one the instance joined on another hub", { role: "participant" }, info);
    const evs = await t.control.allEvents(ch);
    const last = evs[evs.length - 1]!;
    const forged = finaliseEvent(ctx.fake.key, { ...rogue(ctx, ch, last.seq + 1, last.event_id), type: "conformance:forged" });
    await expectRejected(ctx, role, ch, await ctx.fake.sendTransaction(t.name, { events: [forged] }), forged, ["SMCP_NOT_HUB"], `event of ${info.hub}'s channel from the fake peer`);
  }),
  ...batchCheck("adv/batch/seq-one-with-prev", "a hub-signed event at seq 1 whose prev_event is not null is rejected with SMCP_BAD_EVENT; the real seq 1 is accepted", ["EVT-13", "EVT-08"], ["adv/hub/invite@@"], async (ctx, role) => {
    const t = known(ctx, role);
    const hub = ctx.fake.hubCreate(`seq1-${ctx.runId}-${role[0]}`);
    hub.members.add(t.name);
    ctx.fake.hubAppend(hub.id, "smcp:member.join", { server: t.name });
    hub.servedUpTo = 0; // the instance cannot learn seq 1 by backfill before the rogue one arrives
    try {
      const answer = expectOk<InviteAnswer>(await ctx.fake.sendInvite(t.name, hub.id), "InviteAnswer", "invite to a fresh fake channel", 200);
      ensure(answer.accepted, "invite not accepted", true, answer);
      const [create] = hub.events;
      const { event_id: _id, hub_signature: _sig, ...unsigned } = create!;
      const bad = finaliseEvent(ctx.fake.key, { ...unsigned, prev_event: "$" + "E".repeat(43) });
      await expectRejected(ctx, role, hub.id, await ctx.fake.sendTransaction(t.name, { events: [bad] }), bad, ["SMCP_BAD_EVENT"], "seq 1 with a prev_event");
    } finally {
      hub.servedUpTo = Number.MAX_SAFE_INTEGER;
    }
    const r = expectOk<TransactionResult>(await ctx.fake.sendTransaction(t.name, { events: hub.events, heads: [ctx.fake.hubHead(hub.id)] }), "TransactionResult", "the real events 1..2", 200);
    ensure(hub.events.every((e) => r.processed.includes(e.event_id)), "the real seq 1 and 2 were not processed", hub.events.map((e) => e.event_id), r);
  }),
  ...batchCheck("adv/batch/events-are-items", "a transaction of max_txn_items + 1 events and no submissions gets 413 SMCP_TOO_LARGE (events count as items)", ["TXN-05"], HUB_PREREQ, async (ctx, role) => {
    const t = known(ctx, role);
    const ch = fakeChannel(ctx, role);
    const held = ctx.fake.hubChannel(ch).events[0]!;
    const events = Array.from({ length: t.discovery.limits.max_txn_items + 1 }, () => held);
    expectError(await ctx.fake.sendTransaction(t.name, { events }), "SMCP_TOO_LARGE", `${events.length} events`);
  }),
];
