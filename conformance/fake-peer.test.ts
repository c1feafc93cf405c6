// Conformance harness self-tests: the fake peer's composition — route table, and a second signing identity whose per-origin state stays its own (issue 11 item 4).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyKeyOf } from "../protocol/keys.ts";
import type { Error as ErrorBody, Transaction } from "../protocol/types.ts";
import { FakePeer } from "./fake-peer.ts";
import { RouteTable, type Route } from "./fake-peer/routes.ts";
import { WireRecorder } from "./wire-log.ts";

const PING = { method: "GET", path: "/federation/v1/ping" } as const;

describe("fake peer route table", () => {
  const route = (name: Route["name"], method: Route["method"], path: Route["path"], signed = true): Route => ({ name, method, path, signed, handle: () => ({ status: 200, body: {} }) });
  const table = new RouteTable([
    route("well-known", "GET", "/.well-known/smcp/server", false),
    route("send", "PUT", "/federation/v1/send/{txn_id}"),
    route("backfill", "GET", "/federation/v1/channels/{channel}/events"),
    route("call", "*", "/federation/v1/call"),
  ]);

  it("matches by method and path template, percent-decoding parameters", () => {
    const m = table.match("GET", `/federation/v1/channels/${encodeURIComponent("!room:hub.test")}/events`);
    expect(m).toMatchObject({ kind: "route", route: { name: "backfill" }, params: { channel: "!room:hub.test" } });
    expect(table.match("PUT", "/federation/v1/send/t%2F1")).toMatchObject({ kind: "route", params: { txn_id: "t/1" } });
    expect(table.match("DELETE", "/federation/v1/call")).toMatchObject({ kind: "route", route: { name: "call" } });
  });

  it("tells a known path with the wrong method (signed or not) from a path naming no endpoint", () => {
    expect(table.match("GET", "/federation/v1/send/t1")).toEqual({ kind: "wrong-method", signed: true });
    expect(table.match("POST", "/.well-known/smcp/server")).toEqual({ kind: "wrong-method", signed: false });
    expect(table.match("GET", "/federation/v1/send/a/b")).toEqual({ kind: "none" });
    expect(table.match("GET", "/.well-known/smcp/serverX")).toEqual({ kind: "none" });
  });
});

describe("a second signing identity", () => {
  const recorder = new WireRecorder();
  let mallory: FakePeer;
  let eve: FakePeer;
  /** Another fake playing the instance under test, so that both identities meet a real receiver. */
  let victim: FakePeer;

  beforeAll(async () => {
    victim = await FakePeer.start("victim.test");
    mallory = await FakePeer.start("mallory.test", recorder);
    eve = await mallory.startSibling("eve.test", recorder);
    mallory.addInstance(victim.name, victim.url, verifyKeyOf(victim.key));
    for (const p of [mallory, eve]) victim.addInstance(p.name, p.url, verifyKeyOf(p.key));
  });

  afterAll(async () => {
    await eve.close();
    await mallory.close();
    await victim.close();
  });

  it("has its own name, key, server and records, and knows the instances the first one knows", async () => {
    expect(eve.name).toBe("eve.test");
    expect(eve.key.keyId).not.toBe(mallory.key.keyId);
    expect(eve.url).not.toBe(mallory.url);
    expect(eve.discoveryDocument()).toMatchObject({ server_name: "eve.test", key_id: eve.key.keyId, endpoint: eve.url });
    for (const p of [mallory, eve]) expect((await p.send(victim.name, PING)).status).toBe(200);
    expect(victim.records.filter((r) => r.route === "ping").map((r) => r.origin)).toEqual(["mallory.test", "eve.test"]);
    expect(recorder.current.filter((e) => e.dir === "out").map((e) => e.via)).toEqual(["mallory.test->victim.test", "eve.test->victim.test"]);
  });

  it("signs with its own key: eve signing with mallory's key is refused, under either key ID", async () => {
    const errcode = async (key: typeof mallory.key) => ((await eve.send(victim.name, { ...PING, sign: { key } })).body as ErrorBody).errcode;
    expect(await errcode({ ...mallory.key, keyId: eve.key.keyId })).toBe("SMCP_BAD_SIGNATURE");
    expect(await errcode(mallory.key)).toBe("SMCP_UNKNOWN_KEY");
  });

  it("keeps per-origin keys apart at the receiver: one txn_id from two origins is two transactions, from one origin a conflict", async () => {
    const txn = (from: FakePeer, ts: number): Transaction => ({ origin: from.name, origin_ts: ts, heads: [] });
    const put = (from: FakePeer, ts: number) => from.send(victim.name, { method: "PUT", path: "/federation/v1/send/shared-1", body: txn(from, ts) });
    expect((await put(mallory, 1)).status).toBe(200);
    expect((await put(eve, 2)).status).toBe(200);
    const again = await put(mallory, 3);
    expect([again.status, (again.body as ErrorBody).errcode]).toEqual([409, "SMCP_CONFLICT"]);
  });

  it("receives as itself: what the instance sends eve is authenticated against eve's name and recorded by eve alone", async () => {
    victim.addInstance(eve.name, eve.url, verifyKeyOf(eve.key));
    const before = mallory.records.length;
    const a = await victim.send(eve.name, PING);
    expect(a.status).toBe(200);
    expect(eve.records.at(-1)).toMatchObject({ route: "ping", origin: "victim.test", problems: [] });
    expect(mallory.records.length).toBe(before);
    // Addressed to mallory but delivered to eve: eve is not the destination.
    const misdirected = await victim.send(eve.name, { ...PING, sign: { destination: mallory.name } });
    expect((misdirected.body as ErrorBody).errcode).toBe("SMCP_WRONG_DESTINATION");
  });
});
