// Security tests of Naomi, Roshumba and the HTTP edge against rogue instances (spec §8.3, §9.4, §9.5, §10.5, §5.7):
// a peer with a valid key but no membership gets nothing, a removed member is cut off at once, a flood is rate-limited
// per origin without touching another origin.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ErrorBody } from "../protocol/errors.ts";
import { validate } from "../protocol/schemas.ts";
import type { Event, Submission, Transaction, TransactionResult } from "../protocol/types.ts";
import type { FakePeer } from "../conformance/fake-peer.ts";
import { control, enc, startFakePeer } from "./support/instances.ts";
import { removeDir } from "./support/temp-dir.ts";
import { until } from "./support/until.ts";
import { allEvents, awaitLocalSeq, awaitOutbound, channelInfo, createChannel, mapHosts, publishOk, startPlain, type Node } from "./support/cluster.ts";

const RATE = 20;
const BURST = 40;

describe("rogue instances", () => {
  let alice: Node; // hub
  let bob: Node; // honest member
  let mallory: FakePeer; // valid key, never a member
  let eve: FakePeer; // a member that gets removed
  let carol: FakePeer; // an unrelated origin that keeps working during a flood
  let channel = "";
  let txnN = 0;
  type Method = "GET" | "POST" | "PUT";
  const send = (who: FakePeer, to: Node, method: Method, path: string, body?: unknown) => who.send(to.inst.serverName, { method, path, body });
  /** Every transaction the peer received (the fake peer accepts them as a channel participant). */
  const received = (who: FakePeer) => who.records.filter((r) => r.route === "send" && r.body !== undefined).map((r) => r.body as Transaction);

  const submit = (who: FakePeer, to: Node, subs: Array<Partial<Submission>>) => {
    const submissions = subs.map((s, i) => ({
      submission_id: `${who.name.split(".")[0]}-${txnN}-${i}`, channel, type: "test:msg", sender: who.name, origin_ts: Date.now(), data: {}, ...s,
    }));
    return send(who, to, "PUT", `/federation/v1/send/t${++txnN}`, { origin: who.name, origin_ts: Date.now(), submissions });
  };
  const backfill = (who: FakePeer, after: number) => send(who, alice, "GET", `/federation/v1/channels/${enc(channel)}/events?after=${after}`);
  const call = (who: FakePeer, id: string) => send(who, alice, "POST", "/federation/v1/call", {
    origin: who.name, call_id: id, target: "smcp://alice.example/nothing-here", tool: "list_tasks", params: {},
  });
  const expectError = (r: { status: number; body: unknown }, status: number, errcode: string) => {
    expect(r.status).toBe(status);
    expect(validate("Error", r.body)).toEqual([]);
    expect((r.body as ErrorBody).errcode).toBe(errcode);
  };

  beforeAll(async () => {
    alice = await startPlain("alice.example", { rateLimit: { perSecond: RATE, burst: BURST } });
    bob = await startPlain("bob.example");
    await mapHosts([alice, bob]);
    const peer = (name: string) => startFakePeer(name, [alice.inst, bob.inst]);
    [mallory, eve, carol] = await Promise.all([peer("mallory.example"), peer("eve.example"), peer("carol.example")]);
    channel = await createChannel(alice.inst, "guarded", [bob.inst]);
    await awaitLocalSeq(bob.inst, channel, 2);
  });

  afterAll(async () => {
    await Promise.all([alice?.inst.close(), bob?.inst.close(), mallory?.close(), eve?.close(), carol?.close()]);
    for (const n of [alice, bob]) if (n) removeDir(n.dir);
  });

  it("TXN-11, DLV-17, CHAN-07, CALL-22: a non-member with a valid key cannot publish, read backfill, invite or call (spec §8.3, §9.4, §9.1, §10.5)", async () => {
    const before = (await channelInfo(alice.inst, channel)).local_seq;
    const sub = await submit(mallory, alice, [{}]);
    expect(sub.status).toBe(200);
    const result = sub.body as TransactionResult;
    expect(result.processed).toEqual([]);
    expect(result.sequenced).toEqual([]);
    expect(result.rejected.map((r) => r.errcode)).toEqual(["SMCP_NOT_MEMBER"]);
    // Impersonating a member inside the body does not help (TXN-09, SIGN-35).
    const spoof = await submit(mallory, alice, [{ sender: "bob.example" }]);
    expect((spoof.body as TransactionResult).rejected.map((r) => r.errcode)).toEqual(["SMCP_ORIGIN_MISMATCH"]);
    const bodyOrigin = await send(mallory, alice, "PUT", "/federation/v1/send/spoof", { origin: "bob.example", origin_ts: Date.now() });
    expectError(bodyOrigin, 403, "SMCP_ORIGIN_MISMATCH");
    expectError(await backfill(mallory, 0), 403, "SMCP_NOT_MEMBER");
    // Inviting bob into alice's channel: only its hub may (CHAN-07).
    const invite = await send(mallory, bob, "POST", "/federation/v1/invite", {
      origin: mallory.name, channel, inviter: mallory.name, invitee: "bob.example", origin_ts: Date.now(),
    });
    expectError(invite, 403, "SMCP_NOT_HUB");
    expectError(await call(mallory, "m-1"), 403, "SMCP_FORBIDDEN");
    // Events forged for alice's channel and pushed to bob are refused: only the hub sends them (TXN-27).
    const held = await allEvents(bob.inst, channel);
    const forged: Event = { ...held[1]!, seq: 3, prev_event: held[1]!.event_id };
    const push = await send(mallory, bob, "PUT", "/federation/v1/send/forged", { origin: mallory.name, origin_ts: Date.now(), events: [forged] });
    expect((push.body as TransactionResult).rejected.map((r) => r.errcode)).toEqual(["SMCP_NOT_HUB"]);
    expect((await channelInfo(alice.inst, channel)).local_seq).toBe(before);
    expect((await channelInfo(bob.inst, channel)).local_seq).toBe(before);
  });

  it("CHAN-19, DLV-20, CALL-22: a removed member is cut off immediately: its next submission, call and backfill are refused (spec §9.5, §10.5)", async () => {
    const invited = await control(alice.inst, "POST", `/control/v1/channels/${enc(channel)}/invites`, { server: eve.name });
    expect(invited.body).toMatchObject({ accepted: true });
    const ok = await submit(eve, alice, [{ data: { from: "eve" } }]);
    expect((ok.body as TransactionResult).sequenced).toHaveLength(1);
    expect(ok.body).toMatchObject({ rejected: [] });
    // While a member, eve may call: the refusal is about the target, not about eve (CALL-21).
    expectError(await call(eve, "e-1"), 404, "SMCP_UNKNOWN_TARGET");
    const removed = await control(alice.inst, "DELETE", `/control/v1/channels/${enc(channel)}/members/${eve.name}`);
    expect(removed.status).toBe(200);
    const leaveSeq = (await channelInfo(alice.inst, channel)).local_seq;
    // No waiting: the very next request after the removal answer is refused.
    const after = await submit(eve, alice, [{ data: { from: "eve", late: true } }]);
    expect((after.body as TransactionResult).rejected.map((r) => r.errcode)).toEqual(["SMCP_NOT_MEMBER"]);
    expectError(await call(eve, "e-2"), 403, "SMCP_FORBIDDEN");
    expectError(await backfill(eve, leaveSeq), 403, "SMCP_NOT_MEMBER");
    const upToLeave = await backfill(eve, 0);
    expect(upToLeave.status).toBe(200);
    expect((upToLeave.body as { events: Event[] }).events.at(-1)).toMatchObject({ seq: leaveSeq, type: "smcp:member.leave", data: { server: eve.name } });
    // The leave reaches eve (CHAN-18), and nothing sequenced later is queued for her (DLV-02).
    await until("eve received her leave event", () => received(eve).some((t) => t.events?.some((e) => e.seq === leaveSeq)));
    await publishOk(alice.inst, channel, { tag: "after-removal" });
    await awaitLocalSeq(bob.inst, channel, leaveSeq + 1);
    expect(await awaitOutbound(alice.inst, eve.name, (q) => q.state === "idle", "eve's queue idle")).toMatchObject({ pending: 0 });
    expect(received(eve).flatMap((t) => t.events ?? []).filter((e) => e.seq > leaveSeq)).toEqual([]);
    expect((await allEvents(alice.inst, channel)).filter((e) => e.sender === eve.name)).toHaveLength(1);
  });

  it("RATE-01, RATE-04..06: a flood from one origin is answered 429 while another origin is served in full (spec §5.7)", async () => {
    const ping = (who: FakePeer) => send(who, alice, "GET", "/federation/v1/ping");
    const FLOOD = 150;
    const OTHER = 20;
    const started = Date.now();
    const flood = Promise.all(Array.from({ length: FLOOD }, () => ping(mallory)));
    const others: number[] = [];
    for (let i = 0; i < OTHER; i++) others.push((await ping(carol)).status);
    const answers = await flood;
    const elapsedS = (Date.now() - started) / 1000;
    const ok = answers.filter((a) => a.status === 200).length;
    const limited = answers.filter((a) => a.status === 429);
    expect(ok + limited.length).toBe(FLOOD); // nothing else: no 5xx, no dropped connection
    expect(limited.length).toBeGreaterThan(0);
    // At most the burst plus the refill over the flood's duration got through.
    expect(ok).toBeLessThanOrEqual(BURST + Math.ceil(RATE * elapsedS) + 1);
    for (const a of limited) {
      expect(validate("Error", a.body)).toEqual([]);
      expect((a.body as ErrorBody).errcode).toBe("SMCP_RATE_LIMITED");
      expect((a.body as ErrorBody).retry_after_ms).toBeGreaterThanOrEqual(1);
      expect(Number(a.headers["retry-after"])).toBe(Math.ceil((a.body as ErrorBody).retry_after_ms! / 1000));
    }
    // The other origin: every request served, none limited.
    expect(others).toEqual(Array.from({ length: OTHER }, () => 200));
    console.log(`[flood] mallory ok=${ok} limited=${limited.length} of ${FLOOD} in ${elapsedS.toFixed(2)} s; carol ok=${others.length}/${OTHER}`);
  });
});
