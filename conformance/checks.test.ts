// Conformance harness self-tests: checks pass against correct small targets and fail against the broken ones of
// tests/support/self-tests/small-target-proofs.ts (broken fronts and other files cover the rest; self-tests/coverage.test.ts counts all).
import { afterEach, describe, expect, it } from "vitest";
import { finaliseEvent } from "../protocol/events.ts";
import { generateSeed, signingKeyFromSeed, verifyKeyOf } from "../protocol/keys.ts";
import type { Event } from "../protocol/types.ts";
import type { ReceiverFaults } from "./fake-peer.ts";
import { runOne, type CheckResult } from "./runner.ts";
import { brokenPeer, checkById, harnessAgainst, smallInstance, type Harness, smallHubHarness } from "../tests/support/harness-self-test.ts";
import { smallHub } from "../tests/support/small-hub.ts";
import { ACCEPT_ANY_EVENT_FAILS, HAND_BUILT_PROOFS, HUB_FAULT_PROOFS, INSTANCE_FAULT_PROOFS, PEER_FAULT_PROOFS, smallTargetProofs } from "../tests/support/self-tests/small-target-proofs.ts";
import { declaresProofs } from "../tests/support/self-tests/proofs.ts";

const closers: Array<() => Promise<void>> = [];

// What the small targets below prove able to fail is their data (small-target-proofs.ts): the index lists it.
declaresProofs(import.meta.url, smallTargetProofs());
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

async function againstPeer(faults: ReceiverFaults, ids: string[]): Promise<Record<string, CheckResult>> {
  const { h } = await brokenPeer(faults);
  closers.push(h.close);
  const out: Record<string, CheckResult> = {};
  for (const id of ids) out[id] = await runOne(checkById(`${id}@alice`), h.ctx);
  return out;
}

const SIGNING = [
  "adv/sign/baseline",
  "adv/sign/unsigned",
  "adv/sign/header-grammar",
  "adv/sign/bad-signature",
  "adv/sign/body-bound",
  "adv/sign/uri-bound",
  "adv/sign/method-bound",
  "adv/sign/wrong-destination",
  "adv/sign/stale-ts",
  "adv/sign/future-ts",
  "adv/sign/unknown-key",
  "adv/keys/rediscovery-limited",
  "adv/sign/replay",
  "adv/sign/origin-mismatch",
  "adv/http/bad-json",
  "adv/http/schema-invalid",
  "adv/http/media-type",
  "adv/limits/too-large",
  "adv/http/unknown-route",
  "adv/sign/check-order",
  "adv/sign/own-origin",
  "adv/sign/destination-byte-exact",
  "adv/sign/s-not-reduced",
];

describe("signing and HTTP-edge checks against the fake peer playing an instance", () => {
  it("pass against a receiver that follows spec §5.6 (SIGN-06..38, ERR-01)", async () => {
    const r = await againstPeer({}, SIGNING);
    for (const id of SIGNING) expect([id, r[id]!.status, r[id]!.details[0]]).toEqual([id, "pass", r[id]!.details[0]]);
  });

  for (const { bug: what, faults: fault, fails: failing } of PEER_FAULT_PROOFS) {
    it(`fail against a receiver that ${what}`, async () => {
      const r = await againstPeer(fault, failing);
      for (const id of failing) expect([id, r[id]!.status, r[id]!.category]).toEqual([id, "fail", "requirement"]);
    });
  }

  it("report a schema-invalid answer as instance-invalid, not as a harness error (ERR-01)", async () => {
    const id = HAND_BUILT_PROOFS.invalidPing;
    const r = await againstPeer({ invalidPing: true }, [id]);
    expect(r[id]!.status).toBe("fail");
    expect(r[id]!.category).toBe("instance-invalid");
    expect(r[id]!.wire.length).toBeGreaterThan(0);
  });

  it("RATE-04: the rate-limit check fails against a receiver without a rate limiter", async () => {
    const id = HAND_BUILT_PROOFS.noRateLimiter;
    const r = await againstPeer({}, [id]);
    expect(r[id]!.status).toBe("fail");
    expect(r[id]!.details[0]).toMatch(/no 429/);
  });
});

describe("the fake peer fails the running check on unexpected requests from the instance", () => {
  it("an unsigned call sent to the fake peer fails the check as instance-invalid (Complement-style)", async () => {
    const { h } = await brokenPeer({});
    closers.push(h.close);
    const rogue = {
      id: "selftest/unexpected",
      name: "sends the fake peer a request it never asked for",
      requirements: [],
      level: "MUST" as const,
      prerequisites: [],
      run: async () => {
        await fetch(`${h.ctx.fake.url}/federation/v1/call`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
      },
    };
    const r = await runOne(rogue, h.ctx);
    expect(r.status).toBe("fail");
    expect(r.category).toBe("instance-invalid");
    expect(r.actual).toMatch(/fails authentication|unexpected/);
  });
});

/** A hub-signed chain of n events, as alice (the hub) would hold it. */
function chain(n: number): { events: Event[]; hubKey: ReturnType<typeof signingKeyFromSeed> } {
  const hubKey = signingKeyFromSeed(generateSeed());
  const events: Event[] = [];
  for (let seq = 1; seq <= n; seq++) {
    events.push(
      finaliseEvent(hubKey, {
        channel: "!c:alice.test", seq, prev_event: events[seq - 2]?.event_id ?? null, type: seq === 1 ? "smcp:channel.create" : "conformance:message",
        sender: "alice.test", origin_ts: 1_700_000_000_000 + seq, hub_ts: 1_700_000_000_000 + seq, data: (seq === 1 ? { creator: "alice.test" } : { n: seq }) as never,
      }),
    );
  }
  return { events, hubKey };
}

async function twoInstances(bobFaults: Parameters<typeof smallInstance>[3], aliceFaults: Parameters<typeof smallInstance>[3] = {}, options = {}): Promise<Harness> {
  const { events, hubKey } = chain(5);
  const trusted = new Map();
  const a = await smallInstance("alice.test", events, trusted, aliceFaults);
  const b = await smallInstance("bob.test", events, trusted, bobFaults);
  const bobKey = verifyKeyOf(signingKeyFromSeed(generateSeed()));
  const h = await harnessAgainst({ alice: { name: "alice.test", url: a.url, key: verifyKeyOf(hubKey) }, bob: { name: "bob.test", url: b.url, key: bobKey } }, options);
  trusted.set(h.ctx.fake.name, verifyKeyOf(h.ctx.fake.key));
  h.ctx.state.channel = "!c:alice.test";
  h.ctx.state.published = [{ event_id: events[3]!.event_id, seq: 4 }];
  closers.push(h.close, a.close, b.close);
  return h;
}

describe("event-order, duplicate-call and latency checks against a small instance", () => {
  it("EVT-09: same-order passes when both hold the hub's chain", async () => {
    const h = await twoInstances({});
    expect((await runOne(checkById("sc/events/same-order"), h.ctx)).status).toBe("pass");
  });

  it("CALL-10: duplicate-call-id passes when a repeated call_id is answered from the record", async () => {
    const h = await twoInstances({});
    expect((await runOne(checkById("adv/calls/duplicate-call-id@bob"), h.ctx)).status).toBe("pass");
  });

  it("CALL-20: the latency check passes a fast instance and reports p50/p95/p99/max", async () => {
    const h = await twoInstances({}, {}, { latencyCalls: 20, latencyP99Ms: 500 });
    const r = await runOne(checkById("sc/latency/direct-calls"), h.ctx);
    expect(r.status).toBe("pass");
    expect(h.ctx.state.latency).toMatchObject({ calls: 20, boundMs: 500 });
    expect(h.ctx.state.latency!.p99).toBeGreaterThanOrEqual(h.ctx.state.latency!.p50);
  });

  for (const p of INSTANCE_FAULT_PROOFS) {
    it(`${p.check} fails when ${p.bug}`, async () => {
      const h = await twoInstances(p.faults, p.aliceFaults, p.options);
      const r = await runOne(checkById(p.check), h.ctx);
      expect(r.status).toBe("fail");
      if (p.detail) expect(`${r.details[0]}`).toMatch(p.detail);
    });
  }
});

describe("hub checks against a small participant instance", () => {
  /** The fake hub's channel, already delivered to bob (seq 1..3), as after adv/hub/gap-backfill. */
  async function joinedFakeChannel(faults: Parameters<typeof smallInstance>[3]): Promise<Harness> {
    const h = await twoInstances(faults);
    const fake = h.ctx.fake;
    const ch = fake.hubCreate("fake-selftest");
    ch.members.add("bob.test");
    fake.hubAppend(ch.id, "smcp:member.join", { server: "bob.test" });
    fake.hubAppend(ch.id, "conformance:message", { n: 3 });
    const r = await fake.sendTransaction("bob.test", { events: ch.events, heads: [fake.hubHead(ch.id)] });
    expect(r.status).toBe(200);
    h.ctx.state.adv.bob = { fakeChannel: ch.id };
    return h;
  }

  for (const id of ACCEPT_ANY_EVENT_FAILS) {
    it(`${id} passes against a participant that verifies events (EVT-15, EVT-18, DLV-24, EVT-13, VER-09)`, async () => {
      const h = await joinedFakeChannel({});
      const r = await runOne(checkById(`${id}@bob`), h.ctx);
      expect([r.status, r.details[0]]).toEqual(["pass", undefined]);
    });

    it(`${id} fails against a participant that stores whatever it is sent`, async () => {
      const h = await joinedFakeChannel({ acceptAnyEvent: true });
      const r = await runOne(checkById(`${id}@bob`), h.ctx);
      expect(r.status).toBe("fail");
      expect(r.details[0]).toMatch(/not rejected with SMCP_/);
    });
  }
});

describe("delivery-discipline checks against a small hub", () => {
  /** mallory (the fake participant) already joined `channel`, hubbed by a small hub that bob's Control API points at. */
  const hubHarness = (faults: Parameters<typeof smallHub>[4]): Promise<Harness> => smallHubHarness(faults, closers);

  for (const { check: id, faults: fault, after = [] } of HUB_FAULT_PROOFS) {
    it(`${id} passes against a disciplined hub (TXN-29, TXN-21, TXN-33, RATE-07)`, async () => {
      const h = await hubHarness({});
      for (const first of after) expect((await runOne(checkById(`${first}@bob`), h.ctx)).status).toBe("pass");
      const r = await runOne(checkById(`${id}@bob`), h.ctx);
      expect([r.status, r.details[0]]).toEqual(["pass", r.details[0]]);
    });

    it(`${id} fails against a hub that ${JSON.stringify(fault)}`, async () => {
      const h = await hubHarness(fault);
      for (const first of after) expect((await runOne(checkById(`${first}@bob`), h.ctx)).status).toBe("pass");
      const r = await runOne(checkById(`${id}@bob`), h.ctx);
      expect(r.status).toBe("fail");
    });
  }
});

describe("the final check of what instances sent the fake peer", () => {
  /** Two recorded transactions from alice under one txn_id, with the given body hashes. */
  async function withTwoSends(shaA: string, shaB: string): Promise<CheckResult> {
    const { h } = await brokenPeer({});
    closers.push(h.close);
    const name = h.ctx.alice.name;
    for (const [i, sha] of [shaA, shaB].entries()) {
      h.ctx.fake.records.push({ seq: 1000 + i, at: Date.now(), method: "PUT", path: "/federation/v1/send/t1", route: "send", status: 200, problems: [], origin: name, txnId: "t1", sha });
    }
    return runOne(checkById(`${HAND_BUILT_PROOFS.txnIdReused}@alice`), h.ctx);
  }

  it("TXN-02: passes when a txn_id is only ever resent with identical bytes (a retry)", async () => {
    expect((await withTwoSends("same", "same")).status).toBe("pass");
  });

  it("TXN-02: fails when one txn_id carries two different transactions", async () => {
    const r = await withTwoSends("first", "second");
    expect(r.status).toBe("fail");
    expect(r.details[0]).toMatch(/TXN-02/);
  });
});
