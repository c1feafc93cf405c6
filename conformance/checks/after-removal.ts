// Conformance harness: what a removed member can still do at the hub and still receives from it — no calls on the
// strength of a channel it left, no signed heads of that channel in later transactions (spec §9.5, §10.5).
import type { ChannelHead, Transaction } from "../../protocol/types.ts";
import { ensure, expectError } from "../assert.ts";
import { perTarget, type Check } from "../context.ts";
import { advChannel, known } from "./support/state.ts";
import { fakeCall, remoteCall, uid } from "./support/requests.ts";

/** The leave's seq in the adversarial channel, as the fake peer received it. */
function leaveSeqOf(ctx: Parameters<Check["run"]>[0], channel: string): number {
  const seq = ctx.fake.removedFrom.get(channel);
  ensure(seq !== undefined, "the fake peer was never removed", "a delivered leave", "none");
  return seq;
}

export const afterRemovalChecks: Check[] = [
  ...perTarget((role) => ({
    id: "adv/removal/may-not-call",
    name: "a server removed from the only channel it shared with the hub gets 403 SMCP_FORBIDDEN for a call",
    requirements: ["CALL-21", "CHAN-19"],
    level: "MUST",
    prerequisites: ["adv/removal/leave-delivered@@", "adv/calls/member-call@@"],
    async run(ctx) {
      const t = known(ctx, role);
      expectError(await fakeCall(ctx, t, remoteCall(ctx, t, "list_tasks", {})), "SMCP_FORBIDDEN", "list_tasks from a removed member");
    },
  })),
  ...perTarget((role) => ({
    id: "adv/removal/no-heads-after-leave",
    name: "transactions the hub sends a removed server later (for another channel) carry no head of the channel it left beyond its leave",
    requirements: ["DLV-02", "CHAN-18"],
    level: "MUST",
    prerequisites: ["adv/removal/leave-delivered@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const left = advChannel(ctx, role);
      const leave = leaveSeqOf(ctx, left);
      // Another channel, so that the hub has a reason to send the removed server a transaction.
      const other = (await t.control.createChannel(uid(ctx, "after-leave"))).channel;
      const since = ctx.fake.records.length;
      const outcome = await t.control.invite(other, ctx.fake.name);
      ensure(outcome.accepted, "the fake peer's invite was not accepted", true, outcome);
      const mine = () => ctx.fake.records.slice(since).filter((r) => r.route === "send" && r.origin === t.name);
      const got = await ctx.fake.waitUntil(() => mine().some((r) => ((r.body as Transaction | undefined)?.heads ?? []).some((h) => h.channel === other)), ctx.options.deliveryTimeoutMs);
      try {
        ensure(got, "the hub never sent the fake peer a transaction for the new channel", other, "nothing");
        const stale: ChannelHead[] = mine().flatMap((r) => ((r.body as Transaction | undefined)?.heads ?? []).filter((h) => h.channel === left && h.seq > leave));
        ensure(stale.length === 0, "the hub sent a removed server heads of the channel it left (delivery beyond its membership)", `no head of ${left} beyond seq ${leave}`, stale);
      } finally {
        // Leave no membership behind: later checks rely on the fake peer sharing no channel with the instance.
        await t.control.request("DELETE", `/control/v1/channels/${encodeURIComponent(other)}/members/${ctx.fake.name}`);
      }
    },
  })),
];
