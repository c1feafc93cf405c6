// Reliability tests of Naomi delivery (spec §8.4, §8.6, §9.2, §9.7): a real partition and lost answers between a hub
// and a participant, injected by FaultProxy on loopback; afterwards every event is counted on both sides.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ErrorBody } from "../protocol/errors.ts";
import { sendRaw } from "../protocol/http-client.ts";
import { dispatcher, enc } from "./support/instances.ts";
import { removeDir } from "./support/temp-dir.ts";
import { until } from "./support/until.ts";
import {
  allEvents, awaitLocalSeq, awaitOutbound, channelInfo, createChannel, expectLinear, mapHosts, publish, publishOk,
  startBehindProxy, tags, type Node,
} from "./support/cluster.ts";

describe("partition between hub and participant", () => {
  let alice: Node; // hub
  let bob: Node; // participant
  let channel = "";

  beforeAll(async () => {
    // A small queue bound so that the partition also overflows bob's queue: the rest must come by backfill (§9.2).
    alice = await startBehindProxy("alice.example", { queueBound: 10 });
    // Bob retries a failed transaction after 1 s: his partition-time publishes all land inside the back-off, where
    // the answer is an immediate 502 (the test below covers a publish made while a retry is in flight).
    bob = await startBehindProxy("bob.example", { backoffBaseMs: 1000, backoffMaxMs: 1000 });
    await mapHosts([alice, bob]);
    channel = await createChannel(alice.inst, "part", [bob.inst]);
    await awaitLocalSeq(bob.inst, channel, 2);
  });

  afterAll(async () => {
    await Promise.all([alice?.inst.close(), bob?.inst.close()]);
    await Promise.all([alice?.proxy?.close(), bob?.proxy?.close()]);
    for (const n of [alice, bob]) if (n) removeDir(n.dir);
  });

  it("DLV-29..31, CTRL-20: events published on both sides arrive after healing, in the hub's order, exactly once (spec §9.7)", async () => {
    alice.proxy!.set("partition");
    bob.proxy!.set("partition");
    // 25 hub events: 10 fit bob's queue, the 11th suspends it (DLV-04).
    for (let i = 0; i < 25; i++) await publishOk(alice.inst, channel, { tag: `a${i}` });
    // Participant publishes fail with 502 SMCP_PEER_UNREACHABLE + retry_after_ms, but stay queued (CTRL-20).
    for (let i = 0; i < 5; i++) {
      const r = await publish(bob.inst, channel, { tag: `b${i}` });
      expect(r.status).toBe(502);
      expect((r.body as ErrorBody).errcode).toBe("SMCP_PEER_UNREACHABLE");
      expect((r.body as ErrorBody).retry_after_ms).toBeGreaterThanOrEqual(1);
    }
    const suspended = await awaitOutbound(alice.inst, "bob.example", (q) => q.state === "suspended", "bob suspended on alice");
    expect(suspended.pending).toBe(0); // the queue was dropped; the store keeps the events (DLV-06)
    expect((await channelInfo(alice.inst, channel)).local_seq).toBe(27);
    expect((await channelInfo(bob.inst, channel)).local_seq).toBe(2);

    const backfills = () => alice.proxy!.seen(/^GET \/federation\/v1\/channels\/[^/]+\/events\?after=/).length;
    const backfillsBefore = backfills();
    alice.proxy!.set("pass");
    bob.proxy!.set("pass");
    const total = 2 + 25 + 5;
    await awaitLocalSeq(alice.inst, channel, total);
    await awaitLocalSeq(bob.inst, channel, total);
    const onAlice = await allEvents(alice.inst, channel);
    const onBob = await allEvents(bob.inst, channel);
    expect(onAlice).toHaveLength(total);
    expectLinear(onAlice);
    expect(onBob.map((e) => e.event_id)).toEqual(onAlice.map((e) => e.event_id));
    // Hub's order: its own 25 (sequenced during the partition), then bob's 5 in the order bob published them.
    expect(tags(onAlice)).toEqual([...Array.from({ length: 25 }, (_, i) => `a${i}`), ...Array.from({ length: 5 }, (_, i) => `b${i}`)]);
    expect(onAlice.filter((e) => e.sender === "bob.example")).toHaveLength(5);
    // Bob's queue was suspended, so at least 15 of alice's events can only have come by backfill (§9.4).
    expect(backfills()).toBeGreaterThan(backfillsBefore);
    await awaitOutbound(alice.inst, "bob.example", (q) => q.state === "idle" && q.pending === 0, "alice's queue to bob drained");
    await awaitOutbound(bob.inst, "alice.example", (q) => q.state === "idle" && q.pending === 0, "bob's queue to alice drained");
  });

  it("TXN-16, TXN-21, TXN-22: with responses dropped the sender retries the same txn_id and nothing is applied twice (spec §8.4)", async () => {
    const before = (await channelInfo(alice.inst, channel)).local_seq;
    // Bob -> alice answers are lost: alice sequences bob's submission, bob never hears it and resends.
    alice.proxy!.set("drop-responses");
    const first = await publish(bob.inst, channel, { tag: "lost-answer-1" });
    expect(first.status).toBe(502);
    expect((first.body as ErrorBody).errcode).toBe("SMCP_PEER_UNREACHABLE");
    const sends = () => alice.proxy!.seen(/^PUT \/federation\/v1\/send\//);
    const sendsBefore = sends().length;
    // Wait (observably) until bob has retried the same transaction at least twice more.
    await awaitOutbound(bob.inst, "alice.example", (q) => q.failures >= 2, "bob retried");
    // Alice -> bob answers are lost too: events bob already stored are resent under the same txn_id.
    bob.proxy!.set("drop-responses");
    await publishOk(alice.inst, channel, { tag: "lost-answer-2" });
    await awaitOutbound(alice.inst, "bob.example", (q) => q.failures >= 3, "alice retried 3 times");
    expect(alice.proxy!.droppedResponses).toBeGreaterThanOrEqual(2);
    expect(bob.proxy!.droppedResponses).toBeGreaterThanOrEqual(3);
    const retried = sends().slice(sendsBefore);
    expect(new Set(retried).size).toBeLessThan(retried.length); // one txn_id sent several times (TXN-21)

    alice.proxy!.set("pass");
    bob.proxy!.set("pass");
    const total = before + 2;
    await awaitLocalSeq(alice.inst, channel, total);
    await awaitLocalSeq(bob.inst, channel, total);
    await awaitOutbound(bob.inst, "alice.example", (q) => q.state === "idle" && q.pending === 0, "bob's queue drained");
    await awaitOutbound(alice.inst, "bob.example", (q) => q.state === "idle" && q.pending === 0, "alice's queue drained");
    const onAlice = await allEvents(alice.inst, channel);
    const onBob = await allEvents(bob.inst, channel);
    // Exactly two new events however many times each was received: no duplicate by seq, id or submission.
    expect(onAlice).toHaveLength(total);
    expectLinear(onAlice);
    expect(onBob.map((e) => e.event_id)).toEqual(onAlice.map((e) => e.event_id));
    expect(tags(onAlice).filter((t) => t.startsWith("lost-answer"))).toEqual(["lost-answer-1", "lost-answer-2"]);
  });

  it("TXN-25, TXN-21: requests cut mid-body are never applied in part, and the retry applies exactly once (spec §8.5, §8.4)", async () => {
    const before = (await channelInfo(alice.inst, channel)).local_seq;
    alice.proxy!.set("truncate-requests");
    bob.proxy!.set("truncate-requests");
    expect((await publish(bob.inst, channel, { tag: "cut-1" })).status).toBe(502);
    await publishOk(alice.inst, channel, { tag: "cut-2" }); // sequenced on the hub; its delivery to bob is cut
    await awaitOutbound(bob.inst, "alice.example", (q) => q.failures >= 2, "bob's submission cut twice");
    await awaitOutbound(alice.inst, "bob.example", (q) => q.failures >= 3, "alice's delivery cut 3 times");
    expect(alice.proxy!.truncatedRequests).toBeGreaterThanOrEqual(2);
    expect(bob.proxy!.truncatedRequests).toBeGreaterThanOrEqual(3);
    // Nothing of the cut requests was applied: the hub has only its own event, bob has nothing new.
    expect((await channelInfo(alice.inst, channel)).local_seq).toBe(before + 1);
    expect((await channelInfo(bob.inst, channel)).local_seq).toBe(before);

    alice.proxy!.set("pass");
    bob.proxy!.set("pass");
    await awaitLocalSeq(alice.inst, channel, before + 2);
    await awaitLocalSeq(bob.inst, channel, before + 2);
    await awaitOutbound(bob.inst, "alice.example", (q) => q.state === "idle" && q.pending === 0, "bob's queue drained");
    const onAlice = await allEvents(alice.inst, channel);
    expect(onAlice).toHaveLength(before + 2);
    expectLinear(onAlice);
    expect((await allEvents(bob.inst, channel)).map((e) => e.event_id)).toEqual(onAlice.map((e) => e.event_id));
    expect(tags(onAlice).slice(-2)).toEqual(["cut-2", "cut-1"]);
  });

  /**
   * While an earlier transaction is being retried (identical bytes, TXN-21) a new submission cannot ride in it;
   * its publish must still answer 502 at once rather than wait for the hub, and be sequenced exactly once later.
   */
  it("CTRL-20: a publish made while an earlier submission is being retried answers 502 promptly (spec §12.3)", async () => {
    const sends = () => alice.proxy!.seen(/^PUT \/federation\/v1\/send\//).length;
    try {
      alice.proxy!.set("partition");
      expect((await publish(bob.inst, channel, { tag: "hang-1" })).status).toBe(502);
      alice.proxy!.set("blackhole"); // bob's next retry of hang-1's transaction hangs in flight
      const before = sends();
      await until("bob's retry in flight", () => sends() > before, 5000);
      const r = await sendRaw(dispatcher, `${bob.inst.url}/control/v1/channels/${enc(channel)}/events`, {
        method: "POST", headers: { authorization: `Bearer ${bob.inst.controlToken}`, "content-type": "application/json" },
        body: Buffer.from(JSON.stringify({ type: "test:msg", data: { tag: "hang-2" } })), timeoutMs: 3000,
      });
      expect(r.status).toBe(502);
      expect((r.body as ErrorBody).errcode).toBe("SMCP_PEER_UNREACHABLE");
    } finally {
      // Heal, and let both submissions through (exactly once each) so the instances are clean for later tests.
      alice.proxy!.set("pass");
      await until("both hang submissions sequenced", async () => tags(await allEvents(alice.inst, channel)).filter((t) => t.startsWith("hang-")).length === 2, 10_000);
      await awaitOutbound(bob.inst, "alice.example", (q) => q.state === "idle" && q.pending === 0, "bob's queue drained");
    }
  });
});
