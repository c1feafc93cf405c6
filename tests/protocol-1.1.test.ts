// Protocol 1.1 across real reference instances (Naomi, Paulina, Roshumba): a 1.0-only instance pairs with 1.1 ones,
// forged sender signatures are refused with exact counts, and a member's own leave ends its queue and its call rights
// (spec §7.5, §9.8, §14).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { computeEventId } from "../protocol/events.ts";
import { signForm } from "../protocol/signing.ts";
import { senderForm, signSubmission } from "../protocol/sender-signature.ts";
import type { ChannelInfo, Event, LeaveAnswer, ServerDiscovery, Submission, TransactionResult } from "../protocol/types.ts";
import type { FakePeer } from "../conformance/fake-peer.ts";
import type { Instance } from "../reference-impl/instance.ts";
import { connect, control, enc, start, startFakePeer, waitForEvents } from "./support/instances.ts";
import { removeDir, tempDir } from "./support/temp-dir.ts";
import { until } from "./support/until.ts";

describe("protocol 1.1: versions, sender signatures and leave across reference instances", () => {
  let alice: Instance; // 1.1, hub of !a
  let bob: Instance; // 1.0-only (--protocol-versions 1.0), hub of !b
  let carol: Instance; // 1.1
  let dave: Instance; // 1.1, the leaver
  let mallory: FakePeer; // the harness's fake peer playing a 1.1 hub and sender
  const dirs: string[] = [];
  const chanA = "!a:alice.example";
  const chanB = "!b:bob.example";

  const publish = (inst: Instance, channel: string, data: Record<string, unknown>) =>
    control(inst, "POST", `/control/v1/channels/${enc(channel)}/events`, { type: "chat:message", data });
  const heldEvents = (inst: Instance, channel: string) => inst.store.events(channel, 0, Number.MAX_SAFE_INTEGER, 100_000).map((e) => e as Event);
  const call = (inst: Instance, server: string) => control(inst, "POST", "/control/v1/calls", { target: `smcp://${server}/vikunja`, tool: "list_tasks", params: {} });

  beforeAll(async () => {
    dirs.push(tempDir("alice"), tempDir("bob"), tempDir("carol"), tempDir("dave"));
    alice = await start("alice.example", dirs[0]!, { includeVikunja: true });
    bob = await start("bob.example", dirs[1]!, { includeVikunja: true, protocolVersions: ["1.0"] });
    carol = await start("carol.example", dirs[2]!);
    dave = await start("dave.example", dirs[3]!);
    await connect(alice, bob, carol, dave);
    mallory = await startFakePeer("mallory.test", [alice, bob, carol, dave]);
    mallory.playVersions(["1.0", "1.1"]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([alice?.close(), bob?.close(), carol?.close(), dave?.close(), mallory?.close()]);
    dirs.forEach(removeDir);
  });

  it("VER-10, DISC-04: a 1.1 instance lists 1.0 and 1.1 and prefers 1.1; --protocol-versions 1.0 lists 1.0 only", async () => {
    const docOf = async (i: Instance) => (await control(i, "GET", "/.well-known/smcp/server")).body as ServerDiscovery;
    expect([(await docOf(alice)).version, (await docOf(alice)).versions]).toEqual(["1.1", ["1.0", "1.1"]]);
    expect([(await docOf(bob)).version, (await docOf(bob)).versions]).toEqual(["1.0", ["1.0"]]);
    expect(((await control(bob, "GET", "/control/v1/instance")).body as { version: string }).version).toBe("1.0");
  });

  it("VER-12, EVT-27, EVT-29: a 1.0-only instance and 1.1 instances share channels both ways; 1.0 events stay unsigned and accepted", async () => {
    await control(alice, "POST", "/control/v1/channels", { name: "a" });
    for (const s of ["bob.example", "carol.example"]) {
      expect((await control(alice, "POST", `/control/v1/channels/${enc(chanA)}/invites`, { server: s })).body).toMatchObject({ accepted: true });
    }
    await control(bob, "POST", "/control/v1/channels", { name: "b" });
    for (const s of ["alice.example", "carol.example"]) {
      expect((await control(bob, "POST", `/control/v1/channels/${enc(chanB)}/invites`, { server: s })).body).toMatchObject({ accepted: true });
    }
    for (const [inst, channel] of [[alice, chanA], [bob, chanA], [carol, chanA], [alice, chanB], [bob, chanB], [carol, chanB]] as const) {
      expect((await publish(inst, channel, { from: inst.serverName })).status).toBe(200);
    }
    // Each channel: create, two joins, three messages — the same six events on every member.
    for (const channel of [chanA, chanB]) {
      const seen = await Promise.all([alice, bob, carol].map((i) => waitForEvents(i, channel, 6)));
      expect(seen[1]!.map((e) => e.event_id)).toEqual(seen[0]!.map((e) => e.event_id));
      expect(seen[2]!.map((e) => e.event_id)).toEqual(seen[0]!.map((e) => e.event_id));
    }
    const signedBy = (channel: string) => heldEvents(carol, channel).filter((e) => e.sender_signature !== undefined).map((e) => e.sender);
    // In the 1.1 hub's channel the 1.1 senders signed, the 1.0 sender did not; the 1.0 hub keeps no sender signature.
    expect(signedBy(chanA).sort()).toEqual(["carol.example"]);
    expect(signedBy(chanB)).toEqual([]);
    // A 1.1 hub's own events need no sender signature (EVT-33), and alice's were sequenced locally.
    expect(heldEvents(bob, chanA).map((e) => e.event_id)).toEqual(heldEvents(alice, chanA).map((e) => e.event_id));
  });

  it("VER-12: calls work both ways between the 1.0-only and the 1.1 instance", async () => {
    expect((await call(alice, "bob.example")).status).toBe(200);
    expect((await call(bob, "alice.example")).status).toBe(200);
  });

  it("CHAN-29, CHAN-36, VER-11: a 1.1 instance does not leave a 1.0 hub's channel; the 1.0-only instance has no leave", async () => {
    const r = await control(alice, "POST", `/control/v1/channels/${enc(chanB)}/leave`);
    expect([r.status, (r.body as { errcode: string }).errcode]).toEqual([400, "SMCP_INVALID"]);
    expect(((await control(bob, "GET", `/control/v1/channels/${enc(chanB)}`)).body as ChannelInfo).members).toContain("alice.example");
    expect((await control(bob, "POST", `/control/v1/channels/${enc(chanA)}/leave`)).status).toBe(404);
  });

  it("EVT-28, EVT-29: events a 1.1 hub forges for a 1.1 sender are refused — 0 stored; a 1.0 sender's unsigned event is stored", async () => {
    const channel = mallory.hubCreate("forge").id;
    expect((await mallory.sendInvite("alice.example", channel)).status).toBe(200);
    const join = (s: string) => mallory.hubAppend(channel, "smcp:member.join", { server: s });
    const setup = [join("alice.example"), join("carol.example"), join("bob.example")];
    const unsigned = mallory.hubAppend(channel, "chat:message", { text: "carol never said this" }, "carol.example");
    const badSig = mallory.hubAppend(channel, "chat:message", { text: "nor this" }, "carol.example", {
      submission_id: "forged-1", sender_signature: signForm(mallory.key, senderForm({ submission_id: "forged-1", channel, type: "chat:message", sender: "carol.example", origin_ts: 1, data: { text: "nor this" } })),
    });
    const r = await mallory.sendTransaction("alice.example", { events: [...mallory.hubChannel(channel).events.slice(0, 4), unsigned, badSig], heads: [] });
    const result = r.body as TransactionResult;
    expect(result.rejected.map((x) => [x.id, x.errcode])).toEqual([[unsigned.event_id, "SMCP_BAD_EVENT"], [badSig.event_id, "SMCP_BAD_EVENT"]]);
    expect(heldEvents(alice, channel).filter((e) => e.sender === "carol.example")).toHaveLength(0);
    expect(setup).toHaveLength(3);
    // bob speaks 1.0 only: its (hub-vouched) unsigned event is fine. It comes at seq 5, where the refused ones were.
    const chain = mallory.hubChannel(channel);
    chain.events.splice(4);
    const fromBob = mallory.hubAppend(channel, "chat:message", { text: "1.0 words" }, "bob.example");
    const ok = (await mallory.sendTransaction("alice.example", { events: [fromBob], heads: [] })).body as TransactionResult;
    expect(ok.processed).toEqual([fromBob.event_id]);
    expect(heldEvents(alice, channel).filter((e) => e.sender === "bob.example")).toHaveLength(1);
  });

  it("EVT-24, EVT-25, EVT-26: the 1.1 hub refuses a 1.1 sender's unsigned or badly signed submission — 0 sequenced — and keeps a good one's signature", async () => {
    expect((await control(alice, "POST", `/control/v1/channels/${enc(chanA)}/invites`, { server: "mallory.test" })).body).toMatchObject({ accepted: true });
    const before = heldEvents(alice, chanA).length;
    const base: Submission = { submission_id: "s-1", channel: chanA, type: "chat:message", sender: "mallory.test", origin_ts: Date.now(), data: { n: 1 } };
    const forged = { ...signSubmission(mallory.key, base), submission_id: "s-2" }; // signed for s-1, sent as s-2
    const r = (await mallory.sendTransaction("alice.example", { submissions: [{ ...base, submission_id: "s-0" }, forged] })).body as TransactionResult;
    expect(r.rejected.map((x) => [x.id, x.errcode])).toEqual([["s-0", "SMCP_BAD_EVENT"], ["s-2", "SMCP_BAD_EVENT"]]);
    expect(heldEvents(alice, chanA).length - before).toBe(0);
    const good = signSubmission(mallory.key, { ...base, submission_id: "s-3" });
    const ok = (await mallory.sendTransaction("alice.example", { submissions: [good] })).body as TransactionResult;
    expect(ok.processed).toEqual(["s-3"]);
    const event = heldEvents(alice, chanA).at(-1)!;
    expect([event.seq - before, event.submission_id, event.sender_signature, event.origin_ts]).toEqual([1, "s-3", good.sender_signature, base.origin_ts]);
    expect(computeEventId(event)).toBe(event.event_id);
    // carol (1.1) verified mallory's signature and stored it; bob (1.0) stored it unchanged (EVT-27, EVT-16).
    await until("carol and bob hold mallory's signed event", () => [carol, bob].every((i) => heldEvents(i, chanA).some((e) => e.event_id === event.event_id)));
    expect(heldEvents(bob, chanA).find((e) => e.event_id === event.event_id)).toEqual(event);
  });

  it("CHAN-31, DLV-38, CHAN-34, CHAN-37: dave leaves on its own — 0 further deliveries, no more calls, a retried leave is answered the same", async () => {
    const chanL = "!l:alice.example";
    await control(alice, "POST", "/control/v1/channels", { name: "l" });
    expect((await control(alice, "POST", `/control/v1/channels/${enc(chanL)}/invites`, { server: "dave.example" })).body).toMatchObject({ accepted: true });
    await waitForEvents(dave, chanL, 2);
    expect((await call(dave, "alice.example")).status).toBe(200);

    const left = await control(dave, "POST", `/control/v1/channels/${enc(chanL)}/leave`);
    expect(left.status).toBe(200);
    expect(left.body as ChannelInfo).toMatchObject({ joined: false });
    const hubInfo = (await control(alice, "GET", `/control/v1/channels/${enc(chanL)}`)).body as ChannelInfo;
    expect(hubInfo.members).toEqual(["alice.example"]);
    const leave = heldEvents(alice, chanL).at(-1)!;
    expect([leave.type, leave.data]).toEqual(["smcp:member.leave", { server: "dave.example", by: "alice.example", initiator: "dave.example" }]);
    // The leaver still takes its own leave event (CHAN-37): it is delivered, and local_seq reaches it.
    await until("dave holds its own leave", () => dave.store.channel(chanL)!.local_seq === leave.seq);
    expect((await call(dave, "alice.example")).status).toBe(403);

    for (let i = 0; i < 3; i++) expect((await publish(alice, chanL, { after_leave: i })).status).toBe(200);
    // Barrier: the same queue then carries dave's join of another channel; once that arrived, so would have the three.
    await control(alice, "POST", "/control/v1/channels", { name: "l2" });
    expect((await control(alice, "POST", `/control/v1/channels/${enc("!l2:alice.example")}/invites`, { server: "dave.example" })).body).toMatchObject({ accepted: true });
    await waitForEvents(dave, "!l2:alice.example", 2);
    expect(heldEvents(dave, chanL).filter((e) => e.seq > leave.seq)).toHaveLength(0);
    expect(alice.naomi.outboundInfo("dave.example").pending).toBe(0);

    // A retried leave (the answer was lost) is answered with the same leave event, sequencing nothing (CHAN-32).
    const again = await dave.naomi.leave(chanL).catch((e: Error) => e);
    expect(again).toBeInstanceOf(Error); // dave is no longer joined: its control API refuses (CHAN-36)
    const retried = alice.naomi.handleLeave("dave.example", { origin: "dave.example", channel: chanL, origin_ts: Date.now() }) as LeaveAnswer;
    expect(retried).toEqual({ channel: chanL, event_id: leave.event_id, seq: leave.seq });
    expect(heldEvents(alice, chanL)).toHaveLength(leave.seq + 3);
  });

  it("VER-13: the versions a peer listed survive a restart (a 1.1 peer does not turn into a 1.0 one)", async () => {
    expect(alice.discovery.cached("carol.example")?.versions).toEqual(["1.0", "1.1"]);
    await alice.close();
    alice = await start("alice.example", dirs[0]!, { includeVikunja: true });
    expect([alice.discovery.cached("carol.example")?.versions, alice.discovery.cached("bob.example")?.versions]).toEqual([["1.0", "1.1"], ["1.0"]]);
  });
});
