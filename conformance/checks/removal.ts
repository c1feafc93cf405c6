// Conformance harness: removing members — the instance as hub removes the fake peer, and the fake hub removes the
// instance; what each side may still send and see afterwards (spec §9.5, §9.2, §9.4).
import type { BackfillPage, Event, TransactionResult } from "../../protocol/types.ts";
import { ensure, expectError, expectOk, fail } from "../assert.ts";
import { perTarget, type Check, type Role } from "../context.ts";
import { advChannel, fakeChannel, known } from "./support/state.ts";
import { backfillPath, sendTxn, submission, uid } from "./support/requests.ts";

const leaveSeq = new Map<Role, number>();

function isLeaveOf(e: Event, server: string): boolean {
  return e.type === "smcp:member.leave" && (e.data as { server?: unknown }).server === server;
}

function leaveOf(role: Role): number {
  const l = leaveSeq.get(role);
  if (l === undefined) fail("the fake peer was never removed");
  return l;
}

export const removalChecks: Check[] = [
  ...perTarget((role) => ({
    id: "adv/removal/leave-delivered",
    name: "removing the fake peer sequences smcp:member.leave {server, by}, answers the updated ChannelInfo and delivers the leave to it",
    requirements: ["CHAN-17", "CHAN-18", "CTRL-17", "DLV-01", "EVT-05"],
    level: "MUST",
    prerequisites: ["adv/participant/invited@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const ch = advChannel(ctx, role);
      const a = await t.control.request("DELETE", `/control/v1/channels/${encodeURIComponent(ch)}/members/${ctx.fake.name}`);
      const info = expectOk<{ members: string[] }>(a, "ChannelInfo", "DELETE member", 200);
      ensure(!info.members.includes(ctx.fake.name), "the removed server is still listed as a member", "absent", info.members);
      const got = await ctx.fake.waitUntil(() => [...(ctx.fake.participant.get(ch)?.events.values() ?? [])].some((e) => isLeaveOf(e, ctx.fake.name)), ctx.options.deliveryTimeoutMs);
      ensure(got, "the removed server never received its smcp:member.leave", "smcp:member.leave delivered to the removed server", "nothing");
      const leave = [...ctx.fake.participant.get(ch)!.events.values()].find((e) => isLeaveOf(e, ctx.fake.name))!;
      ensure((leave.data as { by?: unknown }).by === t.name && leave.sender === t.name, "leave event lacks data.by = hub or is not sent by the hub", { by: t.name, sender: t.name }, leave);
      leaveSeq.set(role, leave.seq);
      ctx.fake.removedFrom.set(ch, leave.seq);
      await t.control.publish(ch, "conformance:after-removal", { marker: uid(ctx, "after") });
    },
  })),
  ...perTarget((role) => ({
    id: "adv/removal/submission-rejected",
    name: "submissions from a removed server are rejected per item with SMCP_NOT_MEMBER",
    requirements: ["CHAN-19", "TXN-11"],
    level: "MUST",
    prerequisites: ["adv/removal/leave-delivered@@"],
    async run(ctx) {
      const sub = submission(ctx, role);
      const r = expectOk<TransactionResult>(await sendTxn(ctx, role, { submissions: [sub] }), "TransactionResult", "submission after removal", 200);
      const item = r.rejected.find((x) => x.id === sub.submission_id);
      ensure(item?.errcode === "SMCP_NOT_MEMBER", "a removed server's submission was not rejected with SMCP_NOT_MEMBER", "SMCP_NOT_MEMBER", r);
    },
  })),
  ...perTarget((role) => ({
    id: "adv/removal/backfill-bounded",
    name: "a removed server is served backfill up to its leave (head = the leave) and 403 SMCP_NOT_MEMBER beyond it",
    requirements: ["DLV-20"],
    level: "MUST",
    prerequisites: ["adv/removal/leave-delivered@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const ch = advChannel(ctx, role);
      const l = leaveOf(role);
      const page = expectOk<BackfillPage>(await ctx.fake.send(t.name, { method: "GET", path: backfillPath(ch, `after=${l - 1}`) }), "BackfillPage", "backfill up to the leave", 200);
      ensure(page.events.length === 1 && page.events[0]!.seq === l && page.head.seq === l, "backfill for a removed server does not stop at its leave", { events: [l], head: l }, { events: page.events.map((e) => e.seq), head: page.head.seq });
      expectError(await ctx.fake.send(t.name, { method: "GET", path: backfillPath(ch, `after=${l}`) }), "SMCP_NOT_MEMBER", "backfill beyond the leave");
    },
  })),
  ...perTarget((role) => ({
    id: "adv/removal/removed-participant",
    name: "removed by the fake hub, the instance shows joined: false and rejects later events per item with SMCP_NOT_MEMBER",
    requirements: ["CHAN-20"],
    level: "MUST",
    prerequisites: ["adv/hub/gap-backfill@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const ch = fakeChannel(ctx, role);
      const hub = ctx.fake.hubChannel(ch);
      const leave = ctx.fake.hubAppend(ch, "smcp:member.leave", { server: t.name, by: ctx.fake.name });
      hub.members.delete(t.name);
      const r1 = expectOk<TransactionResult>(await ctx.fake.sendTransaction(t.name, { events: [leave] }), "TransactionResult", "leave event", 200);
      ensure(r1.processed.includes(leave.event_id), "the leave event was not processed", leave.event_id, r1);
      const info = await t.control.channel(ch);
      ensure(info.joined === false, "the removed instance still shows joined", false, info.joined);
      const later = ctx.fake.hubAppend(ch, "conformance:message", { n: "after leave" });
      const r2 = expectOk<TransactionResult>(await ctx.fake.sendTransaction(t.name, { events: [later] }), "TransactionResult", "event after the leave", 200);
      ensure(r2.rejected.find((x) => x.id === later.event_id)?.errcode === "SMCP_NOT_MEMBER", "an event after its own leave was not rejected with SMCP_NOT_MEMBER", "SMCP_NOT_MEMBER", r2);
    },
  })),
];
