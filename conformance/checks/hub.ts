// Conformance harness: the fake peer as the hub of a channel each instance under test joins — out-of-order and gapped
// delivery, backfill from the hub, withheld tails, and events a participant must refuse (spec §7.4, §8.5, §9).
import { finaliseEvent, signHead, type UnsignedEvent } from "../../protocol/events.ts";
import { signForm } from "../../protocol/signing.ts";
import type { HttpAnswer } from "../../protocol/http-client.ts";
import type { Event, InviteAnswer, Transaction, TransactionResult } from "../../protocol/types.ts";
import { ensure, expectError, expectOk } from "../assert.ts";
import { perTarget, type Check, type CheckContext, type Role } from "../context.ts";
import { fakeChannel, known, noteAdv } from "./support/state.ts";
import { impostorKey, uid } from "./support/requests.ts";
import { expectJsonMembers, jsonDiff, sameJson } from "./support/json-value.ts";

/** Waits (long-poll) until the instance exposes the fake hub's events 1..n, then checks they are exactly those, in order. */
async function expectExposed(ctx: CheckContext, role: Role, n: number): Promise<void> {
  const t = known(ctx, role);
  const ch = fakeChannel(ctx, role);
  const want = ctx.fake.hubChannel(ch).events.slice(0, n).map((e) => e.event_id);
  const seen = await t.control.waitForEvents(ch, (evs) => evs.length >= n, ctx.options.deliveryTimeoutMs);
  const got = seen.slice(0, n).map((e) => e.event_id);
  ensure(sameJson(got, want), `the instance does not expose the hub's events 1..${n} in order — differs at ${jsonDiff(want, got).join("; ")}`, want, seen.map((e) => `${e.seq} ${e.event_id}`));
  const list = await t.control.events(ch);
  ensure(list.local_seq >= n, "local_seq does not reach the contiguous prefix", `≥ ${n}`, list.local_seq);
}

function txnResult(a: HttpAnswer, where: string): TransactionResult {
  return expectOk<TransactionResult>(a, "TransactionResult", where, 200);
}

/** An event at the next seq the hub has not issued, built by `make` but never added to the hub's chain. */
function rogueEvent(ctx: CheckContext, ch: string, seq?: number): Omit<Event, "event_id" | "hub_signature"> {
  const chain = ctx.fake.hubChannel(ch).events;
  const at = seq ?? chain.length + 1;
  return { channel: ch, seq: at, prev_event: at === 1 ? null : chain[at - 2]!.event_id, type: "conformance:rogue", sender: ctx.fake.name, origin_ts: Date.now(), hub_ts: Date.now(), data: { marker: uid(ctx, "rogue") } as never };
}

/** A bad event must come back as a rejected item with `errcode` and never be exposed. */
async function expectRefused(ctx: CheckContext, role: Role, ev: Event, errcode: string, where: string): Promise<void> {
  const t = known(ctx, role);
  const ch = fakeChannel(ctx, role);
  const r = txnResult(await ctx.fake.sendTransaction(t.name, { events: [ev] }), where);
  const item = r.rejected.find((x) => x.id === ev.event_id);
  ensure(item && item.errcode === errcode, `${where}: not rejected with ${errcode}`, { rejected: [{ id: ev.event_id, errcode }] }, r);
  ensure(!r.processed.includes(ev.event_id), `${where}: also listed as processed`, "not processed", r.processed);
  const evs = await t.control.allEvents(ch);
  ensure(!evs.some((e) => e.event_id === ev.event_id), `${where}: the refused event is exposed`, "absent", evs.map((e) => e.event_id));
}

/** Appends a correctly sequenced and signed event with arbitrary type and extra top-level members to the fake hub's chain. */
function appendRaw(ctx: CheckContext, ch: string, parts: { type: string; data: Event["data"] } & Record<string, unknown>): Event {
  const chain = ctx.fake.hubChannel(ch).events;
  const prev = chain[chain.length - 1];
  const now = Date.now();
  const ev = finaliseEvent(ctx.fake.key, { channel: ch, seq: chain.length + 1, prev_event: prev ? prev.event_id : null, sender: ctx.fake.name, origin_ts: now, hub_ts: now, ...parts } as UnsignedEvent);
  chain.push(ev);
  return ev;
}

function hubCheck(id: string, name: string, requirements: string[], prereq: string, run: (ctx: CheckContext, role: Role) => Promise<void>): Check[] {
  // Each instance joins a fake-hub channel of its own, and what it sends the fake is told apart by origin: the two
  // halves wait on their instance (gap delays, backfill) side by side.
  return perTarget((role) => ({ id, name, requirements, level: "MUST", prerequisites: [prereq], sideBySide: true, run: (ctx) => run(ctx, role) }));
}

export const hubChecks: Check[] = [
  ...hubCheck("adv/hub/invite", "the instance accepts a signed invite from the fake hub (POST /federation/v1/invite)", ["CHAN-09", "CHAN-11", "CONF-10"], "adv/sign/baseline@@", async (ctx, role) => {
    const t = known(ctx, role);
    const ch = ctx.fake.hubCreate(`fake-${ctx.runId}-${role[0]}`);
    ch.members.add(t.name);
    ctx.fake.hubAppend(ch.id, "smcp:member.join", { server: t.name });
    const answer = expectOk<InviteAnswer>(await ctx.fake.sendInvite(t.name, ch.id), "InviteAnswer", "invite from the fake hub", 200);
    ensure(answer.accepted && answer.channel === ch.id, "invite not accepted", { channel: ch.id, accepted: true }, answer);
    noteAdv(ctx, role, { fakeChannel: ch.id });
  }),
  ...hubCheck("adv/hub/repeat-invite", "a repeated invite for a channel already accepted is accepted again", ["CHAN-12"], "adv/hub/invite@@", async (ctx, role) => {
    const ch = fakeChannel(ctx, role);
    const answer = expectOk<InviteAnswer>(await ctx.fake.sendInvite(known(ctx, role).name, ch), "InviteAnswer", "repeated invite", 200);
    ensure(answer.accepted && answer.channel === ch, "repeated invite not accepted", { channel: ch, accepted: true }, answer);
  }),
  ...hubCheck("adv/invite/not-hub", "an invite for a channel the inviting origin does not hub gets 403 SMCP_NOT_HUB", ["CHAN-07"], "adv/sign/baseline@@", async (ctx, role) => {
    const t = known(ctx, role);
    const body = { origin: ctx.fake.name, channel: `!x-${ctx.runId}:elsewhere.test`, inviter: ctx.fake.name, invitee: t.name, origin_ts: Date.now() };
    expectError(await ctx.fake.send(t.name, { method: "POST", path: "/federation/v1/invite", body }), "SMCP_NOT_HUB", "invite into another hub's channel");
  }),
  ...hubCheck("adv/invite/wrong-invitee", "an invite naming another invitee than the receiver gets 400 SMCP_INVALID", ["CHAN-08"], "adv/sign/baseline@@", async (ctx, role) => {
    const t = known(ctx, role);
    const body = { origin: ctx.fake.name, channel: `!y-${ctx.runId}:${ctx.fake.name}`, inviter: ctx.fake.name, invitee: "someone-else.test", origin_ts: Date.now() };
    expectError(await ctx.fake.send(t.name, { method: "POST", path: "/federation/v1/invite", body }), "SMCP_INVALID", "invite for someone else");
  }),
  ...hubCheck("adv/invite/check-order", "an invite naming another invitee for a channel the origin does not hub gets 400 SMCP_INVALID (invitee is checked first)", ["CHAN-22", "CHAN-08"], "adv/sign/baseline@@", async (ctx, role) => {
    const t = known(ctx, role);
    const body = { origin: ctx.fake.name, channel: `!z-${ctx.runId}:elsewhere.test`, inviter: ctx.fake.name, invitee: "someone-else.test", origin_ts: Date.now() };
    expectError(await ctx.fake.send(t.name, { method: "POST", path: "/federation/v1/invite", body }), "SMCP_INVALID", "invite failing the invitee and hub checks");
  }),
  ...hubCheck("adv/hub/out-of-order", "events delivered in reverse seq order are exposed in seq order", ["TXN-04", "DLV-22", "CTRL-22"], "adv/hub/invite@@", async (ctx, role) => {
    const ch = fakeChannel(ctx, role);
    const [e1, e2] = ctx.fake.hubChannel(ch).events;
    const r = txnResult(await ctx.fake.sendTransaction(known(ctx, role).name, { events: [e2!, e1!], heads: [ctx.fake.hubHead(ch)] }), "reversed events");
    ensure(r.processed.includes(e1!.event_id) && r.processed.includes(e2!.event_id), "valid events not processed", [e1!.event_id, e2!.event_id], r);
    await expectExposed(ctx, role, 2);
  }),
  ...hubCheck("adv/hub/gap-backfill", "an event ahead of a gap is kept, the gap is backfilled from the hub, and all are exposed in order", ["DLV-22", "DLV-23", "CTRL-23"], "adv/hub/out-of-order@@", async (ctx, role) => {
    const t = known(ctx, role);
    const ch = fakeChannel(ctx, role);
    ctx.fake.hubAppend(ch, "conformance:message", { n: 3 });
    const e4 = ctx.fake.hubAppend(ch, "conformance:message", { n: 4 });
    const backfillsBefore = ctx.fake.records.filter((r) => r.route === "backfill" && r.origin === t.name).length;
    const r = txnResult(await ctx.fake.sendTransaction(t.name, { events: [e4], heads: [ctx.fake.hubHead(ch)] }), "event after a gap");
    ensure(r.processed.includes(e4.event_id), "the event after the gap was not accepted (it must be stored and the gap filled)", e4.event_id, r);
    await expectExposed(ctx, role, 4);
    const backfills = ctx.fake.records.filter((x) => x.route === "backfill" && x.origin === t.name).length - backfillsBefore;
    ensure(backfills > 0, "seq 3 appeared without a backfill request to the hub", "GET /federation/v1/channels/…/events", "none");
  }),
  ...hubCheck("adv/hub/head-backfill", "a signed head ahead of the local chain (withheld tail) makes the instance backfill", ["DLV-13"], "adv/hub/gap-backfill@@", async (ctx, role) => {
    const ch = fakeChannel(ctx, role);
    ctx.fake.hubAppend(ch, "conformance:message", { n: 5 });
    const txn: Omit<Transaction, "origin" | "origin_ts"> = { heads: [ctx.fake.hubHead(ch)] };
    txnResult(await ctx.fake.sendTransaction(known(ctx, role).name, txn), "head-only transaction");
    await expectExposed(ctx, role, 5);
    const info = await known(ctx, role).control.channel(ch);
    ensure(info.known_seq >= 5 && info.local_seq >= 5, "ChannelInfo does not reflect the head (known_seq/local_seq)", "known_seq ≥ 5, local_seq ≥ 5", info);
  }),
  ...hubCheck("adv/hub/submission", "an event published on the instance in the fake hub's channel is submitted to the hub and exposed as sequenced", ["TXN-15", "CTRL-18", "TXN-08"], "adv/hub/out-of-order@@", async (ctx, role) => {
    const t = known(ctx, role);
    const ch = fakeChannel(ctx, role);
    const marker = uid(ctx, "sub");
    const pub = await t.control.publish(ch, "conformance:message", { marker });
    const ev = ctx.fake.hubChannel(ch).events.find((e) => (e.data as { marker?: unknown }).marker === marker);
    ensure(ev, "the fake hub never received the submission", marker, "nothing");
    ensure(ev.sender === t.name && pub.event_id === ev.event_id && pub.seq === ev.seq, "PublishResult differs from what the hub sequenced", { event_id: ev.event_id, seq: ev.seq, sender: t.name }, { ...pub, sender: ev.sender });
    const seen = await t.control.waitForEvents(ch, (evs) => evs.some((e) => e.event_id === ev.event_id), ctx.options.deliveryTimeoutMs);
    ensure(seen.some((e) => e.event_id === ev.event_id), "the sequenced event never appeared on the instance", ev.event_id, "absent");
  }),
  ...hubCheck("adv/hub/submission-queued", "a publish whose first delivery to the hub fails gets 502 SMCP_PEER_UNREACHABLE with retry_after_ms, stays queued and is sequenced once later", ["CTRL-20", "TXN-15"], "adv/hub/submission@@", async (ctx, role) => {
    const t = known(ctx, role);
    const ch = fakeChannel(ctx, role);
    const marker = uid(ctx, "queued");
    const a = await ctx.fake.withSendBehaviour({ failWith: { errcode: "SMCP_INTERNAL" }, failNext: 1 }, () =>
      t.control.request("POST", `/control/v1/channels/${encodeURIComponent(ch)}/events`, { type: "conformance:message", data: { marker } }),
    t.name);
    const err = expectError(a, "SMCP_PEER_UNREACHABLE", "publish whose first delivery failed");
    ensure(typeof err.retry_after_ms === "number", "502 without retry_after_ms (the time until the next attempt)", "retry_after_ms", err);
    const hub = ctx.fake.hubChannel(ch);
    const mine = (): Event[] => hub.events.filter((e) => (e.data as { marker?: unknown }).marker === marker);
    ensure(await ctx.fake.waitUntil(() => mine().length > 0, ctx.options.deliveryTimeoutMs + 2_000), "the queued submission never reached the hub", marker, "nothing");
    const seen = await t.control.waitForEvents(ch, (evs) => evs.some((e) => e.event_id === mine()[0]!.event_id), ctx.options.deliveryTimeoutMs);
    ensure(seen.some((e) => e.event_id === mine()[0]!.event_id), "the sequenced event never appeared on the instance", mine()[0]!.event_id, "absent");
    ensure(mine().length === 1, "the queued submission was sequenced more than once", 1, mine().length);
  }),
  ...hubCheck("adv/hub/rejection-relayed", "a publish the fake hub rejects (SMCP_NOT_MEMBER) is answered by the Control API with that errcode and its status", ["CTRL-21"], "adv/hub/submission@@", async (ctx, role) => {
    const t = known(ctx, role);
    const ch = fakeChannel(ctx, role);
    // The fake hub refuses this one submission as if the instance were no member; nothing is sequenced.
    ctx.fake.refuseSubmissions.set(t.name, "SMCP_NOT_MEMBER");
    try {
      const a = await t.control.request("POST", `/control/v1/channels/${encodeURIComponent(ch)}/events`, { type: "conformance:message", data: { marker: uid(ctx, "refused") } });
      expectError(a, "SMCP_NOT_MEMBER", "publish rejected by the hub");
    } finally {
      ctx.fake.refuseSubmissions.delete(t.name);
    }
  }),
  ...hubCheck("adv/hub/bad-signature", "an event with a hub_signature that does not verify is rejected with SMCP_BAD_EVENT", ["EVT-18", "TXN-27"], "adv/hub/out-of-order@@", async (ctx, role) => {
    const ch = fakeChannel(ctx, role);
    const ev = finaliseEvent(impostorKey(ctx), rogueEvent(ctx, ch));
    await expectRefused(ctx, role, ev, "SMCP_BAD_EVENT", "badly signed event");
  }),
  ...hubCheck("adv/hub/mismatched-event-id", "an event whose content does not hash to its event_id is rejected with SMCP_BAD_EVENT", ["EVT-15"], "adv/hub/out-of-order@@", async (ctx, role) => {
    const ch = fakeChannel(ctx, role);
    const signed = finaliseEvent(ctx.fake.key, rogueEvent(ctx, ch));
    await expectRefused(ctx, role, { ...signed, data: { marker: "changed after hashing" } as never }, "SMCP_BAD_EVENT", "event with a mismatched event_id");
  }),
  ...hubCheck("adv/hub/equivocation", "a second, different event at a seq already held is rejected with SMCP_EQUIVOCATION and the first is kept", ["DLV-24"], "adv/hub/gap-backfill@@", async (ctx, role) => {
    const t = known(ctx, role);
    const ch = fakeChannel(ctx, role);
    const original = ctx.fake.hubChannel(ch).events[2]!;
    const fork = finaliseEvent(ctx.fake.key, rogueEvent(ctx, ch, 3));
    await expectRefused(ctx, role, fork, "SMCP_EQUIVOCATION", "equivocating event at seq 3");
    const evs = await t.control.events(ch, 2, 0, 1);
    ensure(evs.events[0]?.event_id === original.event_id, "the first event at seq 3 was replaced", original.event_id, evs.events[0]?.event_id);
  }),
  ...hubCheck("adv/hub/duplicate-event", "events the instance already holds, sent again in a new transaction, are processed and not stored twice", ["TXN-23", "TXN-24"], "adv/hub/gap-backfill@@", async (ctx, role) => {
    const t = known(ctx, role);
    const ch = fakeChannel(ctx, role);
    const before = await t.control.allEvents(ch);
    const [e1, e2] = ctx.fake.hubChannel(ch).events;
    const r = txnResult(await ctx.fake.sendTransaction(t.name, { events: [e1!, e2!], heads: [ctx.fake.hubHead(ch)] }), "events already held");
    ensure(r.processed.includes(e1!.event_id) && r.processed.includes(e2!.event_id) && r.rejected.length === 0, "held events not reported as processed", { processed: [e1!.event_id, e2!.event_id], rejected: [] }, r);
    const after = await t.control.allEvents(ch);
    ensure(after.length === before.length, "re-delivered events were stored again", before.length, after.length);
  }),
  ...hubCheck("adv/hub/unknown-type-and-members", "hub-signed events of unknown types (an smcp: one included) with unknown members are stored and re-served with those members", ["EVT-07", "EVT-16", "VER-06"], "adv/hub/gap-backfill@@", async (ctx, role) => {
    const t = known(ctx, role);
    const ch = fakeChannel(ctx, role);
    const future = { note: uid(ctx, "future"), nested: { list: [1, "two", null] } };
    const a = appendRaw(ctx, ch, { type: "x-future:thing", data: { n: 1 } as never, x_future: future });
    const b = appendRaw(ctx, ch, { type: "smcp:x-future.type", data: { any: "thing" } as never });
    const r = txnResult(await ctx.fake.sendTransaction(t.name, { events: [a, b], heads: [ctx.fake.hubHead(ch)] }), "events of unknown types");
    ensure(r.processed.includes(a.event_id) && r.processed.includes(b.event_id), "events of unknown types not processed", [a.event_id, b.event_id], r);
    const seen = await t.control.waitForEvents(ch, (evs) => evs.some((e) => e.event_id === b.event_id), ctx.options.deliveryTimeoutMs);
    const gotA = seen.find((e) => e.event_id === a.event_id) as (Event & { x_future?: unknown }) | undefined;
    ensure(gotA && seen.some((e) => e.event_id === b.event_id), "events of unknown types not exposed", [a.event_id, b.event_id], seen.map((e) => `${e.seq} ${e.type}`));
    // Compared by value: member order carries no meaning (event IDs are over JCS); a member dropped and one changed are told apart.
    expectJsonMembers(gotA, a, "the event of an unknown type was not re-served as the hub sent it (unknown members are kept, EVT-16)");
  }),
  ...hubCheck("adv/hub/backfill-verified", "a badly signed event served by backfill is discarded: the hub's real event for that seq is accepted afterwards", ["DLV-21", "DLV-13"], "adv/hub/unknown-type-and-members@@", async (ctx, role) => {
    const t = known(ctx, role);
    const ch = fakeChannel(ctx, role);
    const hub = ctx.fake.hubChannel(ch);
    const good = ctx.fake.hubAppend(ch, "conformance:message", { n: "gap" });
    const next = ctx.fake.hubAppend(ch, "conformance:message", { n: "after-gap" });
    const { event_id: _id, hub_signature: _sig, ...unsigned } = good;
    const tampered = finaliseEvent(impostorKey(ctx), { ...unsigned, data: { n: "tampered" } as never });
    hub.backfillOverride = new Map([[good.seq, tampered]]);
    const since = ctx.fake.records.length;
    try {
      txnResult(await ctx.fake.sendTransaction(t.name, { events: [next], heads: [ctx.fake.hubHead(ch)] }), "event after a gap");
      const asked = await ctx.fake.waitUntil(() => ctx.fake.records.slice(since).some((r) => r.route === "backfill" && r.origin === t.name), ctx.options.deliveryTimeoutMs);
      ensure(asked, "the gap was never backfilled", "GET /federation/v1/channels/…/events", "none");
    } finally {
      hub.backfillOverride = undefined;
    }
    const r = txnResult(await ctx.fake.sendTransaction(t.name, { events: [good], heads: [ctx.fake.hubHead(ch)] }), "the hub's real event for the gap");
    ensure(r.processed.includes(good.event_id), "the real event was refused after a bad backfill (the backfilled one was kept?)", good.event_id, r);
    await expectExposed(ctx, role, next.seq);
    const evs = await t.control.allEvents(ch);
    ensure(!evs.some((e) => e.event_id === tampered.event_id), "the badly signed backfilled event is exposed", "absent", tampered.event_id);
  }),
  ...hubCheck("adv/hub/bad-smcp-event", "a hub-signed smcp:member.join without data.server is rejected per item with SMCP_BAD_EVENT (the transaction still 200)", ["EVT-06", "EVT-04", "ERR-08", "TXN-26"], "adv/hub/unknown-type-and-members@@", async (ctx, role) => {
    const ch = fakeChannel(ctx, role);
    const ev = finaliseEvent(ctx.fake.key, { ...rogueEvent(ctx, ch), type: "smcp:member.join", data: {} as never });
    await expectRefused(ctx, role, ev, "SMCP_BAD_EVENT", "member.join without data.server");
  }),
  ...hubCheck("adv/hub/null-prev-event", "a hub-signed event with prev_event null at seq > 1 is rejected per item with SMCP_BAD_EVENT", ["EVT-13", "ERR-08"], "adv/hub/unknown-type-and-members@@", async (ctx, role) => {
    const ch = fakeChannel(ctx, role);
    const ev = finaliseEvent(ctx.fake.key, { ...rogueEvent(ctx, ch), prev_event: null });
    await expectRefused(ctx, role, ev, "SMCP_BAD_EVENT", "prev_event null at seq > 1");
  }),
  ...hubCheck("adv/hub/undefined-purpose", "an event whose hub_signature was made over an undefined purpose is rejected with SMCP_BAD_EVENT", ["VER-09", "JCS-14"], "adv/hub/unknown-type-and-members@@", async (ctx, role) => {
    const ch = fakeChannel(ctx, role);
    const good = finaliseEvent(ctx.fake.key, rogueEvent(ctx, ch));
    const ev = { ...good, hub_signature: signForm(ctx.fake.key, { purpose: "smcp.x-future.v1", event_id: good.event_id }) };
    await expectRefused(ctx, role, ev, "SMCP_BAD_EVENT", "hub signature over an undefined purpose");
  }),
  ...hubCheck("adv/hub/forged-head", "a head far ahead whose signature does not verify is ignored: 200, not listed, known_seq unchanged", ["TXN-28", "DLV-12"], "adv/hub/unknown-type-and-members@@", async (ctx, role) => {
    const t = known(ctx, role);
    const ch = fakeChannel(ctx, role);
    const before = await t.control.channel(ch);
    const real = ctx.fake.hubHead(ch);
    const forged = signHead(impostorKey(ctx), { channel: ch, seq: real.seq + 50, event_id: "$" + "A".repeat(43), hub_ts: Date.now() });
    const r = txnResult(await ctx.fake.sendTransaction(t.name, { heads: [forged] }), "transaction with a forged head");
    ensure(r.processed.length === 0 && r.rejected.length === 0, "a head was listed in processed or rejected", { processed: [], rejected: [] }, r);
    const after = await t.control.channel(ch);
    ensure(after.known_seq === before.known_seq, "the forged head moved known_seq", before.known_seq, after.known_seq);
  }),
];
