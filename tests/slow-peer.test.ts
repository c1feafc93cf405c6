// Reliability tests of Naomi's per-destination queues (spec §8.6 TXN-29, §9.2 DLV-04, DLV-05, DLV-07, §9.4): a hung
// participant (FaultProxy blackhole) neither delays the others nor grows the hub's queue past its bound.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir } from "./support/temp-dir.ts";
import {
  allEvents, awaitLocalSeq, awaitOutbound, channelInfo, createChannel, expectLinear, mapHosts, publishOk, startBehindProxy,
  startPlain, tags, type Node,
} from "./support/cluster.ts";

describe("slow or dead participant", () => {
  const BOUND = 20;
  const BURST = 60;
  let alice: Node;
  let bob: Node;
  let carol: Node;
  let dave: Node; // the hung one
  let channel = "";

  beforeAll(async () => {
    // Alice sits behind a proxy in pass mode only to count the backfill requests that reach her.
    alice = await startBehindProxy("alice.example", { queueBound: BOUND });
    bob = await startPlain("bob.example");
    carol = await startPlain("carol.example");
    dave = await startBehindProxy("dave.example");
    await mapHosts([alice, bob, carol, dave]);
    channel = await createChannel(alice.inst, "slow", [bob.inst, carol.inst, dave.inst]);
    for (const n of [bob, carol, dave]) await awaitLocalSeq(n.inst, channel, 4);
  });

  afterAll(async () => {
    await Promise.all([alice, bob, carol, dave].map((n) => n?.inst.close()));
    await Promise.all([alice?.proxy?.close(), dave?.proxy?.close()]);
    for (const n of [alice, bob, carol, dave]) if (n) removeDir(n.dir);
  });

  it("DLV-04, DLV-07, TXN-29: a hung member does not delay the others; its queue stays bounded and is suspended (spec §9.2)", async () => {
    // Dave accepts connections and never answers: the hub's one in-flight transaction to dave hangs (TXN-29).
    dave.proxy!.set("blackhole");
    for (let i = 0; i < BURST; i++) await publishOk(alice.inst, channel, { tag: `e${i}` });
    const total = 4 + BURST;
    // Bob and carol receive all of it while dave is still hung.
    await awaitLocalSeq(bob.inst, channel, total);
    await awaitLocalSeq(carol.inst, channel, total);
    expect((await channelInfo(dave.inst, channel)).local_seq).toBeLessThan(total);
    // The queue never held more than the bound: BURST > BOUND, so dave is suspended with nothing queued.
    const q = await awaitOutbound(alice.inst, "dave.example", (o) => o.state === "suspended", "dave suspended");
    expect(q.pending).toBe(0);
    for (const peer of ["bob.example", "carol.example"]) {
      expect(await awaitOutbound(alice.inst, peer, (o) => o.state === "idle", `${peer} idle`)).toMatchObject({ pending: 0, failures: 0 });
    }
    expectLinear(await allEvents(bob.inst, channel));
    expect(tags(await allEvents(carol.inst, channel))).toEqual(Array.from({ length: BURST }, (_, i) => `e${i}`));
  });

  it("DLV-05, DLV-13: after it comes back it catches up by heads and backfill with no loss (spec §9.2, §9.3, §9.4)", async () => {
    const total = 4 + BURST;
    const backfills = () => alice.proxy!.seen(/^GET \/federation\/v1\/channels\/[^/]+\/events\?after=/).length;
    const backfillsBefore = backfills();
    dave.proxy!.set("pass"); // also cuts the hung connection: the hub's attempt fails and is retried
    await awaitOutbound(alice.inst, "dave.example", (o) => o.state === "idle" && o.pending === 0, "dave resumed");
    await awaitLocalSeq(dave.inst, channel, total);
    const onAlice = await allEvents(alice.inst, channel);
    const onDave = await allEvents(dave.inst, channel);
    expect(onDave).toHaveLength(total);
    expect(onDave.map((e) => e.event_id)).toEqual(onAlice.map((e) => e.event_id));
    // Suspension dropped dave's queue, so the missing events can only have come by backfill (§9.4).
    expect(backfills()).toBeGreaterThan(backfillsBefore);
    // New events flow through the queue again once dave is idle.
    await publishOk(alice.inst, channel, { tag: "after" });
    for (const n of [bob, carol, dave]) await awaitLocalSeq(n.inst, channel, total + 1);
    expect(tags(await allEvents(dave.inst, channel)).at(-1)).toBe("after");
    expect((await channelInfo(dave.inst, channel))).toMatchObject({ local_seq: total + 1, known_seq: total + 1 });
  });
});
