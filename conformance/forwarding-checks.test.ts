// Conformance harness self-test (1.1 forwarded calls, spec §10.6): every fwd/* check passes against a pair of reference
// instances and fails against the same pair with the bug an implementer would make planted; against a 1.0-only target
// each check is excluded with the reason.
import { afterEach, describe, expect, it } from "vitest";
import type { Instance } from "../reference-impl/instance.ts";
import type { FederationSender } from "../reference-impl/federation-sender.ts";
import type { RemoteCall, RemoteCallResult } from "../protocol/types.ts";
import { verifyKeyOf } from "../protocol/keys.ts";
import { control, start } from "../tests/support/instances.ts";
import { removeDir, tempDir } from "../tests/support/temp-dir.ts";
import { checkById, harnessAgainst, SELF_TEST_TOKEN, type Harness } from "../tests/support/harness-self-test.ts";
import { declaresProofs } from "../tests/support/self-tests/proofs.ts";
import { runOne } from "./runner.ts";

const CHECKS = [
  "fwd/dest/executes-once", "fwd/dest/tampered-refused", "fwd/dest/hops-and-time", "fwd/relay/through",
  "fwd/origin/result-authenticated", "fwd/intermediate/replay-and-tamper-detected", "fwd/dest/fake-destination",
];

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

interface Pair {
  alice: Instance;
  bob: Instance;
  h: Harness;
}

/** Two reference instances in the conformance configuration (FWD-37), that may call each other and know each other. */
async function pair(versions = ["1.0", "1.1"]): Promise<Pair> {
  const made: Instance[] = [];
  for (const [name, peerName] of [["alice.test", "bob.test"], ["bob.test", "alice.test"]] as const) {
    const dir = tempDir(name.split(".")[0]!);
    const inst = await start(name, dir, { includeVikunja: true, controlToken: SELF_TEST_TOKEN, forwardAllow: ["*>*"], callAllowList: [peerName] });
    closers.push(async () => {
      await inst.close();
      removeDir(dir);
    });
    made.push(inst);
  }
  const [alice, bob] = made as [Instance, Instance];
  for (const [a, b] of [[alice, bob], [bob, alice]] as const) {
    expect((await control(a, "PUT", `/control/v1/hosts/${b.serverName}`, { base_url: b.url })).status).toBe(204);
    expect((await control(a, "POST", "/control/v1/peers", { server_name: b.serverName })).status).toBe(200);
  }
  const keyOf = (i: Instance) => verifyKeyOf((i as unknown as { forwarder: { opts: { key: Parameters<typeof verifyKeyOf>[0] } } }).forwarder.opts.key);
  const h = await harnessAgainst({ alice: { name: alice.serverName, url: alice.url, key: keyOf(alice) }, bob: { name: bob.serverName, url: bob.url, key: keyOf(bob) } });
  closers.push(h.close);
  for (const t of [h.ctx.alice, h.ctx.bob]) t.discovery = { ...t.discovery!, versions };
  return { alice, bob, h };
}

const run = (p: Pair, id: string) => runOne(checkById(id), p.h.ctx);
/** Private parts of the reference the planted bugs replace. */
const forwarderOf = (i: Instance) => i.forwarder as unknown as { opts: { execute: (o: string, c: RemoteCall, id: string) => Promise<RemoteCallResult>; skewMs: number; federation: FederationSender }; checkEnvelope: () => Promise<void> };
/** The bug of running a forwarded call under a key of its own per arrival: every repeat executes again. */
function plantReexecution(i: Instance): void {
  const f = forwarderOf(i);
  const execute = f.opts.execute;
  let n = 0;
  f.opts.execute = (o, c, id) => execute(o, { ...c, call_id: `${c.call_id}-${++n}` }, `${id}-${n}`);
}

describe("fwd/* checks against reference instances", () => {
  declaresProofs(import.meta.url, CHECKS);

  it("pass against a 1.1 pair, for both roles", async () => {
    const p = await pair();
    for (const id of CHECKS) {
      for (const role of ["alice", "bob"]) {
        const r = await run(p, `${id}@${role}`);
        expect([r.id, r.status, r.details, r.actual]).toEqual([r.id, "pass", r.details, r.actual]);
      }
    }
  });

  it("are excluded, with the reason, when a target's discovery does not list 1.1", async () => {
    const p = await pair(["1.0"]);
    for (const id of CHECKS) {
      const r = await run(p, `${id}@alice`);
      expect([r.status, r.details[0]]).toEqual(["excluded", expect.stringMatching(/without "1\.1".*FWD-01/)]);
    }
  });

  it("fwd/dest/executes-once fails when a repeated envelope runs the tool again", async () => {
    const p = await pair();
    plantReexecution(p.alice);
    const r = await run(p, "fwd/dest/executes-once@alice");
    expect([r.status, r.details[0]]).toEqual(["fail", expect.stringMatching(/another result|exactly once/)]);
  });

  it("fwd/dest/tampered-refused fails when the envelope is not checked", async () => {
    const p = await pair();
    forwarderOf(p.alice).checkEnvelope = async () => {};
    const r = await run(p, "fwd/dest/tampered-refused@alice");
    expect([r.status, r.details[0]]).toEqual(["fail", expect.stringMatching(/changed arguments: request was accepted/)]);
  });

  it("fwd/dest/hops-and-time fails when stale envelopes are accepted", async () => {
    const p = await pair();
    forwarderOf(p.alice).opts.skewMs = 10 ** 12;
    const r = await run(p, "fwd/dest/hops-and-time@alice");
    expect([r.status, r.details[0]]).toEqual(["fail", expect.stringMatching(/older than W/)]);
  });

  it("fwd/relay/through fails when the intermediate carries changed arguments onward instead of refusing them", async () => {
    const p = await pair();
    forwarderOf(p.alice).checkEnvelope = async () => {};
    const r = await run(p, "fwd/relay/through@alice");
    expect([r.status, `${r.details[0]} ${r.expected} ${r.actual}`]).toEqual(["fail", expect.stringMatching(/name the hop[\s\S]*alice\.test[\s\S]*bob\.test/)]);
  });

  it("fwd/origin/result-authenticated fails when the origin does not verify the destination's signature", async () => {
    const p = await pair();
    const origin = (p.alice.roshumba as unknown as { forwarding: { origin: { accept: (a: { body: RemoteCallResult }) => RemoteCallResult } } }).forwarding.origin;
    origin.accept = (a) => ({ call_id: a.body.call_id, target: a.body.target, tool: a.body.tool, result: a.body.result });
    const r = await run(p, "fwd/origin/result-authenticated@alice");
    expect([r.status, r.details[0]]).toEqual(["fail", expect.stringMatching(/accepted a result changed by the intermediate/)]);
  });

  it("fwd/intermediate/replay-and-tamper-detected fails when a replayed envelope runs again", async () => {
    const p = await pair();
    plantReexecution(p.alice);
    const r = await run(p, "fwd/intermediate/replay-and-tamper-detected@alice");
    expect([r.status, r.details[0]]).toEqual(["fail", expect.stringMatching(/ran the tool again/)]);
  });

  it("fwd/dest/fake-destination fails when the intermediate does not append itself to hops", async () => {
    const p = await pair();
    const f = forwarderOf(p.bob);
    const real = f.opts.federation;
    f.opts.federation = { request: (d, m, path, body, o) => real.request(d, m, path, { ...(body as object), hops: (body as { hops: string[] }).hops.slice(0, 1) }, o) };
    const r = await run(p, "fwd/dest/fake-destination@alice");
    expect(r.status).toBe("fail");
    expect(`${r.details.join(" ")} ${r.expected} ${r.actual}`).toMatch(/hops|SMCP_INVALID|502/);
  });
});
