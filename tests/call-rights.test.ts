// Security tests of Roshumba's call policy and Naomi's invite policy (spec §10.5 CALL-21, CALL-22; §9.1 CHAN-26): call
// rights come from the callee — a channel the caller hubs grants it nothing, a channel the callee hubs does.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ErrorBody } from "../protocol/errors.ts";
import type { ChannelInfo, InviteAnswer, RegistryListing, RemoteCallResult, TransactionResult } from "../protocol/types.ts";
import type { FakePeer } from "../conformance/fake-peer.ts";
import { control, enc, startFakePeer } from "./support/instances.ts";
import { removeDir } from "./support/temp-dir.ts";
import { createChannel, mapHosts, startPlain, type Node } from "./support/cluster.ts";

describe("call rights come from the callee", () => {
  let alice: Node; // conformance profile: accepts every authenticated invite
  let bob: Node; // conformance profile, runs vikunja
  let carol: Node; // the production default: accepts invites from allow-listed hubs only
  let mallory: FakePeer; // a valid key and a channel of its own
  let callN = 0;

  const tasksOn = async (n: Node): Promise<number> => {
    const r = await control(n.inst, "POST", "/control/v1/calls", { target: `smcp://${n.inst.serverName}/vikunja`, tool: "list_tasks", params: {} });
    expect(r.status).toBe(200);
    return ((r.body as RemoteCallResult).result.structuredContent as { tasks: unknown[] }).tasks.length;
  };
  const malloryCalls = (to: Node, tool: string, params: Record<string, unknown>) => mallory.send(to.inst.serverName, {
    method: "POST", path: "/federation/v1/call",
    body: { origin: mallory.name, call_id: `m-${++callN}`, target: `smcp://${to.inst.serverName}/vikunja`, tool, params },
  });
  /** Mallory hubs `!name:mallory`, invites `victim`, and sequences and delivers the join: a textbook co-membership. */
  const squat = async (victim: Node, name: string): Promise<{ channel: string; answer: InviteAnswer }> => {
    const ch = mallory.hubCreate(name);
    ch.members.add(victim.inst.serverName);
    mallory.hubAppend(ch.id, "smcp:member.join", { server: victim.inst.serverName });
    const invite = await mallory.sendInvite(victim.inst.serverName, ch.id);
    expect(invite.status).toBe(200);
    const answer = invite.body as InviteAnswer;
    if (answer.accepted) {
      const txn = await mallory.sendTransaction(victim.inst.serverName, { events: ch.events, heads: [mallory.hubHead(ch.id)] });
      expect((txn.body as TransactionResult).rejected).toEqual([]);
    }
    return { channel: ch.id, answer };
  };

  beforeAll(async () => {
    alice = await startPlain("alice.example", { includeVikunja: true });
    bob = await startPlain("bob.example", { includeVikunja: true });
    carol = await startPlain("carol.example", { includeVikunja: true, acceptAllInvites: false, inviteAllowList: ["bob.example"] });
    await mapHosts([alice, bob, carol]);
    mallory = await startFakePeer("mallory.example", [alice.inst, bob.inst, carol.inst]);
  });

  afterAll(async () => {
    await Promise.all([alice?.inst.close(), bob?.inst.close(), carol?.inst.close(), mallory?.close()]);
    for (const n of [alice, bob, carol]) if (n) removeDir(n.dir);
  });

  it("CALL-21: a self-hubbed co-membership grants nothing — create_task, list_tasks and the registry are refused, no task is created", async () => {
    const before = await tasksOn(alice);
    const { channel, answer } = await squat(alice, "squat");
    expect(answer.accepted).toBe(true);
    // The co-membership exists, as the victim itself reports it.
    const view = (await control(alice.inst, "GET", `/control/v1/channels/${enc(channel)}`)).body as ChannelInfo;
    expect(view).toMatchObject({ joined: true, role: "participant", members: ["alice.example", "mallory.example"] });
    const answers = [
      await malloryCalls(alice, "create_task", { title: "planted" }),
      await malloryCalls(alice, "list_tasks", {}),
      await malloryCalls(alice, "complete_task", { id: 1 }),
    ];
    expect(answers.map((a) => [a.status, (a.body as ErrorBody).errcode])).toEqual([
      [403, "SMCP_FORBIDDEN"], [403, "SMCP_FORBIDDEN"], [403, "SMCP_FORBIDDEN"],
    ]);
    const listing = (await mallory.send(alice.inst.serverName, { method: "GET", path: "/federation/v1/registry" })).body as RegistryListing;
    expect(listing.components.filter((c) => c.kind === "mcp")).toEqual([]);
    expect(await tasksOn(alice)).toBe(before);
  });

  it("CALL-21: the callee's consent — a channel the callee hubs — lets the caller call, and removal takes it back", async () => {
    // alice hubs a channel with bob: that lets bob call alice, not alice call bob.
    const aliceHubbed = await createChannel(alice.inst, "alice-hubbed", [bob.inst]);
    const call = (from: Node, to: Node, title: string) =>
      control(from.inst, "POST", "/control/v1/calls", { target: `smcp://${to.inst.serverName}/vikunja`, tool: "create_task", params: { title } });
    const aliceToBob = await call(alice, bob, "alice's task on bob");
    expect([aliceToBob.status, (aliceToBob.body as ErrorBody).errcode]).toEqual([403, "SMCP_FORBIDDEN"]);
    expect((await call(bob, alice, "bob's task on alice")).status).toBe(200);
    // bob consents by hubbing a channel of his own and inviting alice.
    const bobHubbed = await createChannel(bob.inst, "bob-hubbed", [alice.inst]);
    const bobBefore = await tasksOn(bob);
    expect((await call(alice, bob, "alice's task on bob")).status).toBe(200);
    expect(await tasksOn(bob)).toBe(bobBefore + 1);
    // The right ends with the membership that gave it (alice stays a member of nothing of bob's).
    expect((await control(bob.inst, "DELETE", `/control/v1/channels/${enc(bobHubbed)}/members/alice.example`)).status).toBe(200);
    const after = await call(alice, bob, "one too many");
    expect([after.status, (after.body as ErrorBody).errcode]).toEqual([403, "SMCP_FORBIDDEN"]);
    expect(await tasksOn(bob)).toBe(bobBefore + 1);
    expect(aliceHubbed).toMatch(/^!alice-hubbed:/);
  });

  it("CHAN-26: by default an instance declines invites from hubs its operator did not allow-list, and stores nothing for them", async () => {
    const { channel, answer } = await squat(carol, "squat-carol");
    expect(answer).toEqual({ channel, accepted: false, events_since: null });
    expect((await control(carol.inst, "GET", `/control/v1/channels/${enc(channel)}`)).status).toBe(404);
    const listed = (await control(carol.inst, "GET", "/control/v1/channels")).body as { channels: ChannelInfo[] };
    expect(listed.channels.map((c) => c.channel)).toEqual([]);
    // The allow-listed hub is accepted.
    const fromBob = await createChannel(bob.inst, "for-carol", [carol.inst]);
    expect(fromBob).toBe("!for-carol:bob.example");
  });
});
