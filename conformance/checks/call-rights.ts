// Conformance harness: call rights come from the callee (spec §10.5 CALL-21) — a peer that hubs a channel of its own,
// invites the instance under test and sequences its join is a co-member, and must still get 403 for every call.
import type { InviteAnswer, RegistryListing, TransactionResult } from "../../protocol/types.ts";
import { ensure, expectError, expectOk } from "../assert.ts";
import { perTarget, type Check } from "../context.ts";
import { FakePeer } from "../fake-peer.ts";
import { tasksOf } from "./support/matchers.ts";
import { uid } from "./support/requests.ts";
import { known } from "./support/state.ts";

export const callRightsChecks: Check[] = perTarget((role) => ({
  id: "adv/calls/self-hubbed-co-member",
  name: "a peer that hubs its own channel, invites the instance and sequences its join still gets 403 SMCP_FORBIDDEN for calls, and an empty registry listing",
  requirements: ["CALL-21", "CALL-22", "REG-07", "CONF-10"],
  level: "MUST",
  prerequisites: ["adv/sign/baseline@@"],
  async run(ctx) {
    const t = known(ctx, role);
    // A fresh identity: the harness's own fake peer may by now be a member of a channel the instance hubs.
    const squatter = await FakePeer.start(`squatter-${ctx.runId}-${role[0]}.test`, ctx.recorder);
    try {
      squatter.addInstance(t.name, t.discovery.endpoint, t.key);
      await t.control.mapHost(squatter.name, squatter.url);
      const ch = squatter.hubCreate(`squat-${ctx.runId}-${role[0]}`);
      ch.members.add(t.name);
      squatter.hubAppend(ch.id, "smcp:member.join", { server: t.name });
      const answer = expectOk<InviteAnswer>(await squatter.sendInvite(t.name, ch.id), "InviteAnswer", "invite from a peer's own channel", 200);
      ensure(answer.accepted, "the invite was declined; the conformance profile accepts every authenticated invite (CONF-10)", true, answer);
      const txn = expectOk<TransactionResult>(
        await squatter.sendTransaction(t.name, { events: ch.events, heads: [squatter.hubHead(ch.id)] }), "TransactionResult", "the join delivered", 200,
      );
      ensure(txn.rejected.length === 0, "the instance refused the squatter's channel events", [], txn.rejected);
      // The precondition, as the instance itself reports it: both are members of the squatter's channel.
      const view = await t.control.channel(ch.id);
      ensure(view.joined && view.members.includes(squatter.name) && view.members.includes(t.name), "the instance does not report the co-membership", { joined: true, members: [squatter.name, t.name] }, view);
      const local = (tool: string, params: Record<string, unknown>) => t.control.call({ target: `smcp://${t.name}/vikunja`, tool, params: params as never });
      const before = tasksOf(await local("list_tasks", {}), "list_tasks (local)").length;
      const call = (tool: string, params: Record<string, unknown>) => squatter.send(t.name, {
        method: "POST", path: "/federation/v1/call",
        body: { origin: squatter.name, call_id: uid(ctx, "squat"), target: `smcp://${t.name}/vikunja`, tool, params },
      });
      expectError(await call("create_task", { title: uid(ctx, "must-not-exist") }), "SMCP_FORBIDDEN", "create_task from a self-hubbed co-member");
      expectError(await call("list_tasks", {}), "SMCP_FORBIDDEN", "list_tasks from a self-hubbed co-member");
      const listing = expectOk<RegistryListing>(await squatter.send(t.name, { method: "GET", path: "/federation/v1/registry" }), "RegistryListing", "registry for a self-hubbed co-member", 200);
      const mcp = listing.components.filter((c) => c.kind === "mcp").map((c) => c.name);
      ensure(mcp.length === 0, "mcp components listed to an origin that may not call", [], mcp);
      const after = tasksOf(await local("list_tasks", {}), "list_tasks (local)").length;
      ensure(after === before, "a refused create_task ran the tool", before, after);
    } finally {
      await squatter.close();
    }
  },
}));
