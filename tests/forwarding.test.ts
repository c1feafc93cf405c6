// Roshumba 1.1 forwarding across real reference instances (spec §10.6, §11.3): alice cannot reach bob and calls him
// through carol (or dave); a fake origin and a fake neighbour send what an honest hop never would. One test per
// guarantee, with exact counts of what each hop was made to do.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ErrorBody } from "../protocol/errors.ts";
import { envelopeSha256, FORWARD_PATH, signEnvelope, type EnvelopeFields } from "../protocol/forward-envelope.ts";
import type { HttpAnswer } from "../protocol/http-client.ts";
import type { ForwardedCall, ForwardEnvelope, ForwardResult, RegistryListing, RemoteCallResult } from "../protocol/types.ts";
import type { FakePeer } from "../conformance/fake-peer.ts";
import type { Instance } from "../reference-impl/instance.ts";
import { FaultProxy } from "./support/fault-proxy.ts";
import { control, start, startFakePeer } from "./support/instances.ts";
import { removeDir, tempDir } from "./support/temp-dir.ts";

const ALICE = "alice.test";
const BOB = "bob.test";
const CAROL = "carol.test";
const DAVE = "dave.test";
const RITA = "rita.test";
const EVE = "eve.test";
const FRANK = "frank.test";
const TARGET = `smcp://${BOB}/vikunja`;

describe("forwarded calls (1.1) across three reference instances", () => {
  let bobProxy: FaultProxy;
  let alice: Instance, bob: Instance, carol: Instance, dave: Instance, rita: Instance;
  let eve: FakePeer; // a keyed origin that signs its own envelopes
  let frank: FakePeer; // a keyed neighbour that hands on other origins' envelopes
  const dirs: string[] = [];
  const ritaClock = { now: Date.now() };
  let n = 0;

  const dir = (label: string) => {
    const d = tempDir(label);
    dirs.push(d);
    return d;
  };
  // bob advertises http://localhost:<proxy>; alice resolves `localhost` to 127.0.0.2, where nothing listens: she keeps
  // the key she discovered (through her host mapping) but cannot connect to bob's endpoint. Everyone else can.
  const unreachableForAlice = { resolve: async (h: string) => (h === "localhost" ? ["127.0.0.2"] : ["127.0.0.1"]) };
  const reachable = { resolve: async () => ["127.0.0.1"] };

  const tasksOnBob = async (): Promise<number> => {
    const r = await control(bob, "POST", "/control/v1/calls", { target: TARGET, tool: "list_tasks", params: {} });
    expect(r.status).toBe(200);
    return ((r.body as RemoteCallResult).result.structuredContent as { tasks: unknown[] }).tasks.length;
  };
  const map = async (from: Instance, name: string, url: string) => expect((await control(from, "PUT", `/control/v1/hosts/${name}`, { base_url: url })).status).toBe(204);
  const discover = async (from: Instance, name: string) => expect((await control(from, "POST", "/control/v1/peers", { server_name: name })).status).toBe(200);

  /** An envelope signed by eve (the fake origin) for bob, unless fields say otherwise. */
  const eveEnvelope = (over: Partial<EnvelopeFields> = {}): { envelope: ForwardEnvelope; params: Record<string, unknown> } => {
    const params = over.params ?? { title: `eve task ${++n}` };
    const envelope = signEnvelope(eve.identity.key, {
      origin: EVE, destination: BOB, call_id: `eve-${n}-${Date.now()}`, target: TARGET, tool: "create_task", timeout_ms: 10_000, max_hops: 4,
      ...over, params,
    });
    return { envelope, params };
  };
  const hop = (from: FakePeer, to: string, body: ForwardedCall): Promise<HttpAnswer> => from.send(to, { method: "POST", path: FORWARD_PATH, body });
  const errOf = (a: HttpAnswer) => a.body as ErrorBody & { hop?: string };

  beforeAll(async () => {
    bobProxy = await FaultProxy.start("127.0.0.1", 0);
    bob = await start(BOB, dir("bob"), {
      includeVikunja: true, publicUrl: `http://localhost:${bobProxy.port}`, callAllowList: [ALICE, EVE], discovery: reachable,
    });
    bobProxy.retarget("127.0.0.1", Number(new URL(bob.url).port));
    alice = await start(ALICE, dir("alice"), { discovery: unreachableForAlice });
    carol = await start(CAROL, dir("carol"), { forwardAllow: [`${ALICE}>${BOB}`, `${EVE}>${BOB}`, `${EVE}>zed.test`], discovery: reachable });
    dave = await start(DAVE, dir("dave"), { forwardAllow: [`${ALICE}>${BOB}`], discovery: reachable });
    // rita's clock stands still: her token buckets never refill, so the rate-limit counts are exact.
    rita = await start(RITA, dir("rita"), { forwardAllow: [`${EVE}>${BOB}`], rateLimit: { perSecond: 1, burst: 4 }, now: () => ritaClock.now, discovery: reachable });
    const all = [alice, bob, carol, dave, rita];
    for (const a of all) for (const b of all) if (a !== b) await map(a, b.serverName, b.serverName === BOB ? `http://127.0.0.1:${new URL(bob.url).port}` : b.url);
    eve = await startFakePeer(EVE, all);
    frank = await startFakePeer(FRANK, all);
    await discover(alice, BOB); // alice holds bob's key and versions from her own discovery (FWD-03)
    for (const via of [CAROL, DAVE]) await discover(alice, via);
  });

  afterAll(async () => {
    await Promise.all([alice, bob, carol, dave, rita].map((i) => i?.close()));
    await Promise.all([eve?.close(), frank?.close(), bobProxy?.close()]);
    for (const d of dirs) removeDir(d);
  });

  it("FWD-33: carol's registry listing tells an origin she forwards for where she forwards its calls, and others nothing", async () => {
    const forAlice = await eve.send(CAROL, { method: "GET", path: "/federation/v1/registry" });
    expect((forAlice.body as RegistryListing).forwards_to).toEqual([BOB, "zed.test"]);
    const forFrank = await frank.send(CAROL, { method: "GET", path: "/federation/v1/registry" });
    expect((forFrank.body as RegistryListing).forwards_to).toBeUndefined();
  });

  it("FWD-27, FWD-25, FWD-26: alice cannot reach bob, learns the route from a listing and gets bob's signed result through one intermediate", async () => {
    const before = await tasksOnBob();
    const onward = carol.forwarder.stats.onwardRequests + dave.forwarder.stats.onwardRequests;
    const r = await control(alice, "POST", "/control/v1/calls", { target: TARGET, tool: "create_task", params: { title: "through a friend" }, call_id: "fwd-happy" });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const result = r.body as RemoteCallResult;
    expect(result.call_id).toBe("fwd-happy");
    expect((result.result.structuredContent as { task: { title: string } }).task.title).toBe("through a friend");
    expect(await tasksOnBob()).toBe(before + 1);
    // exactly one request onward, from whichever intermediate took it; alice fetched at most 4 listings (FWD-35)
    expect(carol.forwarder.stats.onwardRequests + dave.forwarder.stats.onwardRequests).toBe(onward + 1);
    expect(alice.forwardRoutes.probes).toBeLessThanOrEqual(4);
    // alice never reached bob: the proxy in front of bob saw only the intermediate's forward
    expect(bobProxy.seen(/^POST \/federation\/v1\/call/)).toEqual([]);
  });

  it("FWD-11 (F8): tampered arguments are refused by the first hop that sees them, which sends nothing onward", async () => {
    const { envelope } = eveEnvelope();
    const onward = carol.forwarder.stats.onwardRequests;
    const a = await hop(eve, CAROL, { origin: EVE, hops: [EVE], envelope, params: { title: "not what eve signed" } });
    expect(a.status).toBe(403);
    expect(errOf(a)).toMatchObject({ errcode: "SMCP_BAD_ENVELOPE", hop: CAROL });
    expect(carol.forwarder.stats.onwardRequests).toBe(onward);
    // the destination refuses them as well (an intermediate that tampers after checking)
    const { envelope: e2 } = eveEnvelope();
    const before = await tasksOnBob();
    const b = await hop(eve, BOB, { origin: EVE, hops: [EVE], envelope: e2, params: { title: "swapped" } });
    expect(errOf(b)).toMatchObject({ errcode: "SMCP_BAD_ENVELOPE", hop: BOB });
    expect(await tasksOnBob()).toBe(before);
  });

  it("FWD-11 (F7): a redirected destination (or target) breaks the origin's signature", async () => {
    const { envelope, params } = eveEnvelope();
    // to a destination carol does forward eve's calls to, so that only the signature can tell
    const redirected = { ...envelope, destination: "zed.test", target: "smcp://zed.test/vikunja" };
    const a = await hop(eve, CAROL, { origin: EVE, hops: [EVE], envelope: redirected, params });
    expect(a.status).toBe(403);
    expect(errOf(a)).toMatchObject({ errcode: "SMCP_BAD_ENVELOPE", hop: CAROL });
    const retargeted = { ...envelope, tool: "complete_task" };
    const b = await hop(eve, BOB, { origin: EVE, hops: [EVE], envelope: retargeted, params });
    expect(errOf(b)).toMatchObject({ errcode: "SMCP_BAD_ENVELOPE", hop: BOB });
  });

  it("FWD-21, FWD-09: a replayed envelope never runs twice; a stale one is refused outright", async () => {
    const { envelope, params } = eveEnvelope();
    const before = await tasksOnBob();
    const onward = carol.forwarder.stats.onwardRequests;
    const answers: HttpAnswer[] = [];
    for (let i = 0; i < 3; i++) answers.push(await hop(eve, CAROL, { origin: EVE, hops: [EVE], envelope, params }));
    expect(answers.map((x) => x.status)).toEqual([200, 200, 200]);
    // the same signed result each time, one execution, and no amplification: one onward request per accepted hop
    expect(new Set(answers.map((x) => (x.body as ForwardResult).signature)).size).toBe(1);
    expect(await tasksOnBob()).toBe(before + 1);
    expect(carol.forwarder.stats.onwardRequests).toBe(onward + 3);
    // the same envelope straight to bob (another path) is still the same call
    const direct = await hop(eve, BOB, { origin: EVE, hops: [EVE], envelope, params });
    expect((direct.body as ForwardResult).envelope_sha256).toBe(envelopeSha256(envelope));
    expect(await tasksOnBob()).toBe(before + 1);
    // a different envelope under the same call_id is another call: 409
    const other = signEnvelope(eve.identity.key, { ...envelope, params, nonce: undefined });
    const conflict = await hop(eve, BOB, { origin: EVE, hops: [EVE], envelope: other, params });
    expect(errOf(conflict)).toMatchObject({ errcode: "SMCP_CONFLICT", hop: BOB });
    // older than W + 60 s: refused before anything else happens
    const stale = eveEnvelope({ ts: Date.now() - 60_000 - 60_000 - 1_000 });
    const s = await hop(eve, CAROL, { origin: EVE, hops: [EVE], ...stale });
    expect(s.status).toBe(401);
    expect(errOf(s)).toMatchObject({ errcode: "SMCP_BAD_TIMESTAMP", hop: CAROL });
    expect(await tasksOnBob()).toBe(before + 1);
  });

  it("FWD-08, FWD-16: the hop limit is enforced before sending, and a hop list that contains the receiver is a loop", async () => {
    const onward = carol.forwarder.stats.onwardRequests;
    const one = eveEnvelope({ max_hops: 1 });
    const a = await hop(eve, CAROL, { origin: EVE, hops: [EVE], ...one });
    expect(a.status).toBe(508);
    expect(errOf(a)).toMatchObject({ errcode: "SMCP_HOP_LIMIT", hop: CAROL });
    expect(carol.forwarder.stats.onwardRequests).toBe(onward);
    // frank claims the call passed through carol already
    const looped = eveEnvelope();
    const b = await hop(frank, CAROL, { origin: FRANK, hops: [EVE, CAROL, FRANK], ...looped });
    expect(b.status).toBe(508);
    expect(errOf(b)).toMatchObject({ errcode: "SMCP_FORWARD_LOOP", hop: CAROL });
    // more hops than the envelope allows, at the destination
    const two = eveEnvelope({ max_hops: 1 });
    const c = await hop(frank, BOB, { origin: FRANK, hops: [EVE, FRANK], ...two });
    expect(errOf(c)).toMatchObject({ errcode: "SMCP_HOP_LIMIT", hop: BOB });
    expect(carol.forwarder.stats.onwardRequests).toBe(onward);
  });

  it("FWD-13: an intermediate forwards only what its operator consented to (and none by default)", async () => {
    const forDave = eveEnvelope({ destination: DAVE, target: `smcp://${DAVE}/vikunja` });
    const onward = carol.forwarder.stats.onwardRequests;
    const a = await hop(eve, CAROL, { origin: EVE, hops: [EVE], ...forDave });
    expect(a.status).toBe(403);
    expect(errOf(a)).toMatchObject({ errcode: "SMCP_FORWARD_REFUSED", hop: CAROL });
    const b = await hop(eve, DAVE, { origin: EVE, hops: [EVE], ...eveEnvelope() }); // dave forwards alice's calls only
    expect(errOf(b)).toMatchObject({ errcode: "SMCP_FORWARD_REFUSED", hop: DAVE });
    const c = await hop(eve, alice.serverName, { origin: EVE, hops: [EVE], ...eveEnvelope() }); // alice: no consent at all
    expect(errOf(c)).toMatchObject({ errcode: "SMCP_FORWARD_REFUSED", hop: ALICE });
    expect(carol.forwarder.stats.onwardRequests).toBe(onward);
    expect(carol.forwarder.stats.accepted + 0).toBeGreaterThan(0);
  });

  it("FWD-14: the envelope origin's own bucket pays for a forward, whoever the neighbour is", async () => {
    ritaClock.now = Date.now(); // frozen from here on
    // eve spends her whole burst (4) on rita directly; frank's bucket is full
    for (let i = 0; i < 4; i++) expect((await eve.send(RITA, { method: "GET", path: "/federation/v1/ping" })).status).toBe(200);
    const onward = rita.forwarder.stats.onwardRequests;
    const a = await hop(frank, RITA, { origin: FRANK, hops: [EVE, FRANK], ...eveEnvelope({ ts: ritaClock.now }) });
    expect(a.status).toBe(429);
    expect(errOf(a)).toMatchObject({ errcode: "SMCP_RATE_LIMITED", hop: RITA });
    expect(errOf(a).retry_after_ms).toBeGreaterThanOrEqual(1);
    expect(rita.forwarder.stats.onwardRequests).toBe(onward);
    expect(rita.forwarder.stats.accepted).toBe(0);
  });

  it("FWD-06, FWD-17, FWD-21, FWD-30: a lost answer is retried once by the hop, the error names bob, and the origin's retry (through another intermediate too) runs nothing again", async () => {
    const before = await tasksOnBob();
    const seen = bobProxy.seen(/^POST \/federation\/v1\/forward/).length;
    bobProxy.set("drop-responses");
    const first = await control(alice, "POST", "/control/v1/calls", { target: TARGET, tool: "create_task", params: { title: "once only" }, call_id: "fwd-retry", timeout_ms: 5_000 });
    bobProxy.set("pass");
    expect(first.status).toBe(502);
    expect(first.body).toMatchObject({ errcode: "SMCP_PEER_UNREACHABLE", hop: BOB });
    // each intermediate alice tried (carol, then dave: both route to bob) sent it twice — its first attempt and its
    // one retry (FWD-17) — and bob ran it once
    expect(bobProxy.seen(/^POST \/federation\/v1\/forward/).length - seen).toBe(4);
    expect(await tasksOnBob()).toBe(before + 1);
    // the operator retries the same call_id: the stored envelope goes again, bob answers the recorded outcome
    const again = await control(alice, "POST", "/control/v1/calls", { target: TARGET, tool: "create_task", params: { title: "once only" }, call_id: "fwd-retry", timeout_ms: 5_000 });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(await tasksOnBob()).toBe(before + 1);
    // carol and dave both become unusable as the first route alice tries, one at a time: the call still runs once
    const [firstVia] = await alice.forwardRoutes.candidates(BOB, new Set([ALICE, BOB]));
    const other = firstVia === CAROL ? dave : carol;
    const otherBefore = other.forwarder.stats.onwardRequests;
    await map(alice, firstVia!, "http://127.0.0.1:9"); // nothing listens on the discard port of loopback
    await discover(alice, other.serverName);
    const third = await control(alice, "POST", "/control/v1/calls", { target: TARGET, tool: "create_task", params: { title: "once only" }, call_id: "fwd-retry", timeout_ms: 5_000 });
    expect(third.status, JSON.stringify(third.body)).toBe(200);
    expect((third.body as RemoteCallResult).result).toEqual((again.body as RemoteCallResult).result);
    expect(other.forwarder.stats.onwardRequests).toBe(otherBefore + 1);
    expect(await tasksOnBob()).toBe(before + 1);
    const restore = firstVia === CAROL ? carol : dave;
    await map(alice, restore.serverName, restore.url);
  });

  it("FWD-20: who forwards grants nothing — bob refuses an origin that may not call him, naming himself", async () => {
    const mallory = { ...eveEnvelope() };
    const a = await hop(frank, BOB, { origin: FRANK, hops: [FRANK], ...signedBy(frank, mallory.params) });
    expect(a.status).toBe(403);
    expect(errOf(a)).toMatchObject({ errcode: "SMCP_FORBIDDEN", hop: BOB });
  });

  /** An envelope frank signs as its own origin (frank is not on bob's call allow-list). */
  function signedBy(peer: FakePeer, params: Record<string, unknown>): { envelope: ForwardEnvelope; params: Record<string, unknown> } {
    const envelope = signEnvelope(peer.identity.key, {
      origin: peer.identity.name, destination: BOB, call_id: `f-${++n}`, target: TARGET, tool: "create_task", timeout_ms: 5_000, max_hops: 2, params,
    });
    return { envelope, params };
  }
});
