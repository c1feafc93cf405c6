// Conformance harness self-tests (issue 11 items 4, 5): the per-origin checks pass against an instance keyed per origin
// and fail against one keyed by the ID alone; spec-correct behaviour the harness used to fail (members re-served in
// another order, TXN-39's early retry, late traffic of an earlier check) now passes; JSON is compared by value.
import { afterEach, describe, expect, it } from "vitest";
import { generateSeed, signingKeyFromSeed, verifyKeyOf, type VerifyKey } from "../protocol/keys.ts";
import type { Check, CheckContext } from "./context.ts";
import { FAKE_LIMITS, FakePeer } from "./fake-peer.ts";
import { WireRecorder } from "./wire-log.ts";
import { jsonDiff, sameJson } from "./checks/support/json-value.ts";
import { backfillPath } from "./checks/support/requests.ts";
import { startSecondIdentity } from "./checks/support/state.ts";
import { runOne, type CheckResult } from "./runner.ts";
import { declaresProofs } from "../tests/support/self-tests/proofs.ts";
import { brokenPeer, checkById, harnessAgainst, type Harness, smallHubHarness } from "../tests/support/harness-self-test.ts";
import { smallHub } from "../tests/support/small-hub.ts";
import { perOriginInstance, PER_ORIGIN_LIMITS, type PerOriginFaults, type PerOriginInstance } from "../tests/support/per-origin-instance.ts";

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

interface IdentityHarness {
  h: Harness;
  inst: PerOriginInstance;
  eve: FakePeer;
}

/**
 * alice is a small per-origin instance; mallory (the fake peer) is a member of alice's adversarial channel, and eve
 * (the second identity) of a second channel unless `eveMember` is false.
 */
async function identityHarness(faults: PerOriginFaults, eveMember = true): Promise<IdentityHarness> {
  const key = signingKeyFromSeed(generateSeed());
  const trusted = new Map<string, VerifyKey>();
  const inst = await perOriginInstance("alice.test", key, trusted, faults);
  const h = await harnessAgainst({ alice: { name: "alice.test", url: inst.url, key: verifyKeyOf(key) }, bob: { name: "alice.test", url: inst.url, key: verifyKeyOf(key) } });
  closers.push(h.close, inst.close);
  h.ctx.alice.discovery!.limits = { ...FAKE_LIMITS, ...PER_ORIGIN_LIMITS };
  const eve = await startSecondIdentity(h.ctx);
  for (const p of [h.ctx.fake, eve]) trusted.set(p.name, verifyKeyOf(p.key));
  const channel = inst.hubChannel("adv", [h.ctx.fake.name]);
  const secondChannel = inst.hubChannel("second", eveMember ? [eve.name] : []);
  h.ctx.state.adv.alice = { channel, secondChannel };
  return { h, inst, eve };
}

async function run(id: string, faults: PerOriginFaults, eveMember = true): Promise<CheckResult> {
  const { h } = await identityHarness(faults, eveMember);
  return runOne(checkById(`${id}@alice`), h.ctx);
}

/** Per-origin checks: the fault that keys by the ID alone, what the failure says, whether eve joins the channel. */
const PER_ORIGIN_CASES: Array<[string, PerOriginFaults, RegExp, boolean]> = [
  ["adv/identity/nonce-per-origin", { nonceById: true }, /keyed by nonce alone/, true],
  ["adv/identity/membership-per-origin", { membershipAnyOrigin: true }, /403 SMCP_FORBIDDEN|SMCP_NOT_MEMBER/, false],
  ["adv/identity/txn-id-per-origin", { txnById: true }, /the key is the ID alone/, true],
  ["adv/identity/call-id-per-origin", { callById: true }, /the key is the ID alone/, true],
  ["adv/identity/rate-bucket-per-origin", { sharedRateBucket: true }, /the bucket is not per origin/, true],
];

/** The cases above and the tests below that assert a check FAILS against a broken target (tests/support/self-tests/proofs.ts). */
declaresProofs(import.meta.url, [
  ...PER_ORIGIN_CASES.map(([id]) => id),
  "adv/setup/second-identity", "adv/setup/second-identity-member", "adv/hub/unknown-type-and-members", "adv/delivery/retry-identical",
]);

describe("per-origin checks with a second signing identity (issue 11 item 4)", () => {
  for (const [id, fault, why, eveMember] of PER_ORIGIN_CASES) {
    it(`${id} passes against an instance keyed per origin`, async () => {
      const r = await run(id, {}, eveMember);
      expect(r.status, [...r.details, r.expected, r.actual].join("\n")).toBe("pass");
    });

    it(`${id} fails against an instance keyed by the ID alone (${Object.keys(fault)[0]})`, async () => {
      const r = await run(id, fault, eveMember);
      expect([r.status, r.category]).toEqual(["fail", "requirement"]);
      expect(`${r.details[0]} ${r.expected} ${r.actual}`).toMatch(why);
    });
  }

  /** alice as it is before the setup checks: it knows nothing of eve; adv/setup/fake-peer has run. */
  async function beforeSetup(faults: PerOriginFaults): Promise<Harness> {
    const key = signingKeyFromSeed(generateSeed());
    const inst = await perOriginInstance("alice.test", key, new Map(), faults);
    const h = await harnessAgainst({ alice: { name: "alice.test", url: inst.url, key: verifyKeyOf(key) }, bob: { name: "alice.test", url: inst.url, key: verifyKeyOf(key) } });
    closers.push(h.close, inst.close);
    expect((await runOne(checkById("adv/setup/fake-peer@alice"), h.ctx)).status).toBe("pass");
    return h;
  }

  it("adv/setup/second-identity and adv/setup/second-identity-member pass against an instance that maps, discovers and invites any peer", async () => {
    const h = await beforeSetup({});
    for (const id of ["adv/setup/second-identity@alice", "adv/setup/second-identity-member@alice"]) {
      const r = await runOne(checkById(id), h.ctx);
      expect([id, r.status, r.details[0]]).toEqual([id, "pass", undefined]);
    }
    expect(h.ctx.fake.siblings[0]!.invitedTo.has(h.ctx.state.adv.alice!.secondChannel!)).toBe(true);
  });

  it("adv/setup/second-identity fails against an instance that keeps the first peer's key only", async () => {
    const h = await beforeSetup({ firstPeerOnly: true });
    const r = await runOne(checkById("adv/setup/second-identity@alice"), h.ctx);
    expect([r.status, r.details[0]]).toEqual(["fail", "signed ping from the second identity: unexpected status"]);
    expect(r.actual).toMatch(/401 .*SMCP_UNKNOWN_KEY/);
  });

  it("adv/setup/second-identity-member fails against an instance that sends every invite to its first peer", async () => {
    const h = await beforeSetup({ inviteFirstHost: true });
    expect((await runOne(checkById("adv/setup/second-identity@alice"), h.ctx)).status).toBe("pass");
    const r = await runOne(checkById("adv/setup/second-identity-member@alice"), h.ctx);
    expect(r.status).toBe("fail");
    expect(`${r.details[0]} ${r.actual}`).toMatch(/invite outcome is not accepted|did not reach the second identity/);
  });

  it("the second identity is started once per run, knows the instances, and is closed with the fake peer", async () => {
    const { h, eve } = await identityHarness({});
    expect(await startSecondIdentity(h.ctx)).toBe(eve);
    expect(h.ctx.fake.identities.map((p) => p.name)).toEqual(["mallory.test", "eve-selftest.test"]);
    expect((await eve.send("alice.test", { method: "GET", path: "/federation/v1/ping" })).status).toBe(200);
  });

  it("closing a fake peer closes the identities started from it", async () => {
    const parent = await FakePeer.start("parent.test");
    const child = await parent.startSibling("child.test", new WireRecorder());
    expect((await fetch(`${child.url}/.well-known/smcp/server`)).status).toBe(200);
    await parent.close();
    expect(parent.siblings).toEqual([]);
    await expect(fetch(`${child.url}/.well-known/smcp/server`)).rejects.toThrow();
  });
});

describe("no false failures: JSON compared by value (issue 11 item 5)", () => {
  it("sameJson ignores member order, keeps array order; jsonDiff names each difference by JSON pointer", () => {
    expect(sameJson({ a: 1, b: { c: [1, "x"] } }, { b: { c: [1, "x"] }, a: 1.0 })).toBe(true);
    expect(sameJson([1, 2], [2, 1])).toBe(false);
    expect(jsonDiff({ a: 1, b: { c: [1, "x"] }, "d/e": null }, { b: { c: [1, "y"] }, z: true, "d/e": null })).toEqual([
      "/a: missing (expected 1)",
      '/b/c/1: expected "x", got "y"',
      "/z: unexpected member true",
    ]);
    expect(jsonDiff({ n: 1 }, { n: "1" })).toEqual(['/n: expected number 1, got string "1"']);
  });

  /** alice as a participant of the fake peer's channel, as after adv/hub/gap-backfill. */
  async function participantOfFakeHub(faults: PerOriginFaults): Promise<CheckContext> {
    const { h } = await identityHarness(faults);
    const ch = h.ctx.fake.hubCreate("fake-selftest");
    ch.members.add("alice.test");
    h.ctx.state.adv.alice = { ...h.ctx.state.adv.alice, fakeChannel: ch.id };
    return h.ctx;
  }

  it("adv/hub/unknown-type-and-members passes an instance that re-serves the event's members in another order (EVT-16, JCS)", async () => {
    const ctx = await participantOfFakeHub({ reorderMembers: true });
    const r = await runOne(checkById("adv/hub/unknown-type-and-members@alice"), ctx);
    expect([r.status, r.details[0]]).toEqual(["pass", undefined]);
    // The instance really did change the order: the old comparison of JSON texts would have failed this check.
    const served = (await ctx.alice.control.allEvents(ctx.state.adv.alice!.fakeChannel!)).find((e) => (e as { x_future?: unknown }).x_future !== undefined)!;
    const sent = ctx.fake.hubChannel(ctx.state.adv.alice!.fakeChannel!).events.find((e) => e.event_id === served.event_id)!;
    expect(JSON.stringify(served)).not.toBe(JSON.stringify(sent));
    expect(sameJson(served, sent)).toBe(true);
  });

  it("adv/participant/canonical-json passes a hub that keeps and sends published data in JCS member order (spec §3, EVT-11)", async () => {
    const { h } = await identityHarness({ canonicalOrder: true });
    const ch = h.ctx.state.adv.alice!.channel!;
    await h.ctx.alice.control.mapHost(h.ctx.fake.name, h.ctx.fake.url);
    h.ctx.fake.participant.set(ch, { hub: "alice.test", events: new Map(), heads: [] });
    const r = await runOne(checkById("adv/participant/canonical-json@alice"), h.ctx);
    expect([r.status, r.details[0]]).toEqual(["pass", undefined]);
    const got = [...h.ctx.fake.participant.get(ch)!.events.values()].find((e) => e.type === "conformance:jcs")!;
    // The data arrived in another member order than published: comparing JSON texts would have failed the check.
    expect(Object.keys(got.data as object)[0]).toBe("big");
  });

  it("adv/hub/unknown-type-and-members still fails an instance that drops the unknown member, and says it was dropped", async () => {
    const ctx = await participantOfFakeHub({ dropUnknownMembers: true });
    const r = await runOne(checkById("adv/hub/unknown-type-and-members@alice"), ctx);
    expect(r.status).toBe("fail");
    expect(r.details[0]).toMatch(/\/x_future: missing/);
  });
});

describe("no false failures: TXN-39's permitted early retry (issue 11 item 5)", () => {
  const hubHarness = (faults: Parameters<typeof smallHub>[4]): Promise<Harness> => smallHubHarness(faults, closers);

  it("adv/delivery/retry-identical passes a hub that retries at once after the participant answered its ping with 200", async () => {
    const h = await hubHarness({ pingThenRetryEarly: true });
    const r = await runOne(checkById("adv/delivery/retry-identical@bob"), h.ctx);
    expect([r.status, r.details[0]]).toEqual(["pass", r.details[0]]);
    expect(r.details.join("\n")).toMatch(/retried early, after \d+ ms: the fake peer answered GET \/federation\/v1\/ping with 200 first \(TXN-39\)/);
  });

  it("adv/delivery/retry-identical still fails a hub that never retries", async () => {
    const h = await hubHarness({ noRetry: true });
    expect((await runOne(checkById("adv/delivery/retry-identical@bob"), h.ctx)).status).toBe("fail");
  });
});

describe("no false failures: requests are charged to the check that caused them (issue 11 item 5)", () => {
  /** A check that does `act`; its ID and name say what it is. */
  const step = (id: string, act: (ctx: CheckContext) => Promise<void>): Check => ({ id, name: id, requirements: ["SIGN-05"], level: "MUST", prerequisites: [], run: act });

  it("a bad request about a channel the running check never touched fails no check but the final one, headlined, with its likely cause", async () => {
    const { victim, h } = await brokenPeer({});
    closers.push(h.close);
    const gone = "!gone-selftest:mallory.test";
    // An earlier check acts on the channel (asks the instance for it) and passes.
    const earlier = await runOne(step("selftest/earlier", async (ctx) => void (await ctx.fake.send(victim.name, { method: "GET", path: backfillPath(gone, "after=0") }))), h.ctx);
    expect(earlier.status).toBe("pass");
    // While an unrelated check runs, the instance sends a late, bad backfill for that channel.
    const unrelated = await runOne(
      step("selftest/unrelated", async (ctx) => {
        await victim.send(ctx.fake.name, { method: "GET", path: backfillPath(gone, "after=0") });
        await ctx.fake.send(victim.name, { method: "GET", path: "/federation/v1/ping" });
      }),
      h.ctx,
    );
    expect([unrelated.status, unrelated.actual]).toEqual(["pass", undefined]);
    const final = await runOne(checkById("adv/final/requests-to-fake-peer-valid@alice"), h.ctx);
    expect(final.status).toBe("fail");
    expect(final.details[0]).toMatch(/^1 bad requests from victim\.test.*: GET \/federation\/v1\/channels\/!gone-selftest%3Amallory\.test\/events\?after=0 \(not charged to a check: arrived during selftest\/unrelated, but concerns !gone-selftest:mallory\.test, last acted on by selftest\/earlier\): backfill of !gone-selftest:mallory\.test, which the fake peer does not hub/);
  });

  it("the same bad request fails the running check when that check acted on its channel", async () => {
    const { victim, h } = await brokenPeer({});
    closers.push(h.close);
    const gone = "!gone-selftest:mallory.test";
    const r = await runOne(
      step("selftest/acting", async (ctx) => {
        await ctx.fake.send(victim.name, { method: "GET", path: backfillPath(gone, "after=0") });
        await victim.send(ctx.fake.name, { method: "GET", path: backfillPath(gone, "after=0") });
      }),
      h.ctx,
    );
    expect([r.status, r.category]).toEqual(["fail", "instance-invalid"]);
    expect(r.actual).toMatch(/^GET \/federation\/v1\/channels\/.*gone-selftest.* from victim\.test: backfill of/);
  });

  it("a bad request between checks is a stray too, and requests about no channel stay charged to the running check", async () => {
    const { victim, h } = await brokenPeer({});
    closers.push(h.close);
    await victim.send(h.ctx.fake.name, { method: "GET", path: backfillPath("!between-selftest:mallory.test", "after=0") });
    const next = await runOne(step("selftest/next", async () => {}), h.ctx);
    expect(next.status).toBe("pass");
    expect(h.ctx.fake.strays().map((s) => [s.record.concerns, s.during])).toEqual([[["!between-selftest:mallory.test"], undefined]]);
    const unsigned = await runOne(step("selftest/unsigned", async (ctx) => void (await fetch(`${ctx.fake.url}/federation/v1/registry`))), h.ctx);
    expect([unsigned.status, unsigned.category]).toEqual(["fail", "instance-invalid"]);
  });

  it("the fake hub serves a removed member backfill up to its leave (DLV-20) without calling it a problem; a never-member's is one", async () => {
    const { victim, h } = await brokenPeer({});
    closers.push(h.close);
    const fake = h.ctx.fake;
    const ch = fake.hubCreate("left-selftest");
    ch.members.add(victim.name);
    fake.hubAppend(ch.id, "smcp:member.join", { server: victim.name });
    const leave = fake.hubAppend(ch.id, "smcp:member.leave", { server: victim.name, by: fake.name });
    fake.hubAppend(ch.id, "conformance:message", { n: "after the leave" });
    ch.members.delete(victim.name);
    const page = await victim.send(fake.name, { method: "GET", path: backfillPath(ch.id, "after=0") });
    expect([page.status, (page.body as { events: unknown[] }).events.length, (page.body as { head: { seq: number } }).head.seq]).toEqual([200, leave.seq, leave.seq]);
    expect((await victim.send(fake.name, { method: "GET", path: backfillPath(ch.id, `after=${leave.seq}`) })).status).toBe(403);
    expect(fake.records.flatMap((r) => r.problems)).toEqual([]);
    const other = fake.hubCreate("never-selftest");
    expect((await victim.send(fake.name, { method: "GET", path: backfillPath(other.id, "after=0") })).status).toBe(403);
    expect(fake.records.flatMap((r) => r.problems)).toEqual([`backfill of ${other.id} by non-member ${victim.name}`]);
  });

  it("problems in requests to the second identity are charged like the fake peer's own", async () => {
    const { h } = await brokenPeer({});
    closers.push(h.close);
    const eve = await startSecondIdentity(h.ctx);
    const r = await runOne(step("selftest/to-eve", async () => void (await fetch(`${eve.url}/federation/v1/ping`))), h.ctx);
    expect([r.status, r.category]).toEqual(["fail", "instance-invalid"]);
  });
});
