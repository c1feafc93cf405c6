// Security tests of Naomi against poison events (spec §7.2 EVT-20, §12.3 CTRL-34): event data nested deeper than the
// bound is refused by the hub before it is sequenced — a 1,900-deep submission once blocked a channel's delivery for
// good — and a participant refuses an over-deep event from its hub without recursing over it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ErrorBody } from "../protocol/errors.ts";
import { finaliseEvent } from "../protocol/events.ts";
import type { Event, TransactionResult } from "../protocol/types.ts";
import type { FakePeer } from "../conformance/fake-peer.ts";
import { MAX_EVENT_DATA_DEPTH } from "../protocol/json-depth.ts";
import { control, enc, startFakePeer } from "./support/instances.ts";
import { removeDir } from "./support/temp-dir.ts";
import { allEvents, awaitLocalSeq, channelInfo, createChannel, mapHosts, publish, publishOk, startPlain, type Node } from "./support/cluster.ts";

/** `{"a":{"a":…{}}}` nested `depth` levels (built without recursion). */
function nested(depth: number): Record<string, unknown> {
  let v: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) v = { a: v };
  return v;
}

describe("poison events: over-deep data", () => {
  let alice: Node; // hub
  let bob: Node; // honest participant
  let mallory: FakePeer; // a member that submits poison
  let channel = "";
  let n = 0;

  const submit = (data: Record<string, unknown>) => mallory.send("alice.example", {
    method: "PUT", path: `/federation/v1/send/poison-${++n}`,
    body: { origin: mallory.name, origin_ts: Date.now(), submissions: [{ submission_id: `p-${n}`, channel, type: "test:msg", sender: mallory.name, origin_ts: Date.now(), data }] },
  });

  beforeAll(async () => {
    alice = await startPlain("alice.example");
    bob = await startPlain("bob.example");
    await mapHosts([alice, bob]);
    mallory = await startFakePeer("mallory.example", [alice.inst, bob.inst]);
    channel = await createChannel(alice.inst, "poisoned", [bob.inst]);
    const invited = await control(alice.inst, "POST", `/control/v1/channels/${enc(channel)}/invites`, { server: mallory.name });
    expect(invited.body).toMatchObject({ accepted: true });
    await awaitLocalSeq(bob.inst, channel, 3);
  });

  afterAll(async () => {
    await Promise.all([alice?.inst.close(), bob?.inst.close(), mallory?.close()]);
    for (const x of [alice, bob]) if (x) removeDir(x.dir);
  });

  it("JCS-18, EVT-20: a 1,900-deep body is refused whole, data one level over the bound per item, both before sequencing, and the channel keeps delivering", async () => {
    const before = (await channelInfo(alice.inst, channel)).local_seq;
    // 1,900 levels: the transaction's JSON text itself is over JCS-18's 64, so nothing of it is parsed.
    const whole = await submit(nested(1900));
    expect([whole.status, (whole.body as ErrorBody).errcode]).toEqual([400, "SMCP_BAD_JSON"]);
    const answers: TransactionResult[] = [];
    for (const depth of [MAX_EVENT_DATA_DEPTH + 1, MAX_EVENT_DATA_DEPTH]) {
      const r = await submit(nested(depth));
      expect(r.status).toBe(200);
      answers.push(r.body as TransactionResult);
    }
    expect(answers.map((a) => [a.rejected.map((x) => x.errcode), a.sequenced.length])).toEqual([
      [["SMCP_BAD_EVENT"], 0], [[], 1],
    ]);
    expect(answers[0]!.rejected[0]!.error).toMatch(new RegExp(`deeper than ${MAX_EVENT_DATA_DEPTH} levels at /a/a`));
    // Exactly one event sequenced: the deepest allowed, at the next seq; it reaches bob inside a Transaction.
    expect((await channelInfo(alice.inst, channel)).local_seq).toBe(before + 1);
    const after = await publishOk(alice.inst, channel, { tag: "still-delivering" });
    expect(after.seq).toBe(before + 2);
    await awaitLocalSeq(bob.inst, channel, before + 2);
    const held = await allEvents(bob.inst, channel);
    expect(held.slice(before).map((e) => e.type)).toEqual(["test:msg", "test:msg"]);
    expect((held[before]!.data as Record<string, unknown>).a).toBeDefined();
  });

  it("CTRL-34: the control API answers over-deep data with 400 SMCP_INVALID and a details path, on the hub and on a participant", async () => {
    const hubBefore = (await channelInfo(alice.inst, channel)).local_seq;
    const pointer = "/data" + "/a".repeat(MAX_EVENT_DATA_DEPTH);
    for (const [who, depth] of [[alice, MAX_EVENT_DATA_DEPTH + 20], [bob, MAX_EVENT_DATA_DEPTH + 20], [bob, MAX_EVENT_DATA_DEPTH + 1]] as const) {
      const r = await publish(who.inst, channel, nested(depth));
      const body = r.body as ErrorBody & { details?: Array<{ path: string }> };
      expect([r.status, body.errcode, body.details?.[0]?.path]).toEqual([400, "SMCP_INVALID", pointer]);
    }
    // Over JCS-18's 64 levels the control API refuses the body as JSON, before anything recursive sees it.
    const whole = await publish(alice.inst, channel, nested(1900));
    expect([whole.status, (whole.body as ErrorBody).errcode]).toEqual([400, "SMCP_BAD_JSON"]);
    expect((await channelInfo(alice.inst, channel)).local_seq).toBe(hubBefore);
  });

  it("EVT-20: a participant refuses an event with over-deep data from its hub with per-item SMCP_BAD_EVENT and stays up", async () => {
    const ch = mallory.hubCreate("deep");
    ch.members.add("bob.example");
    mallory.hubAppend(ch.id, "smcp:member.join", { server: "bob.example" });
    expect((await mallory.sendInvite("bob.example", ch.id)).body).toMatchObject({ accepted: true });
    const first = await mallory.sendTransaction("bob.example", { events: ch.events, heads: [mallory.hubHead(ch.id)] });
    expect((first.body as TransactionResult).rejected).toEqual([]);
    const prev = ch.events.at(-1)!;
    const poison: Event = finaliseEvent(mallory.key, {
      channel: ch.id, seq: 3, prev_event: prev.event_id, type: "test:msg", sender: mallory.name, origin_ts: Date.now(), hub_ts: Date.now(),
      data: nested(MAX_EVENT_DATA_DEPTH + 20) as Event["data"],
    });
    const r = await mallory.sendTransaction("bob.example", { events: [poison] });
    expect(r.status).toBe(200);
    expect((r.body as TransactionResult).rejected.map((x) => x.errcode)).toEqual(["SMCP_BAD_EVENT"]);
    expect((await channelInfo(bob.inst, ch.id)).local_seq).toBe(2);
    expect((await control(bob.inst, "GET", "/control/v1/instance")).status).toBe(200);
  });
});
