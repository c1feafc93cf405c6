// Conformance harness self-test: the protocol 1.1 checks (spec §7.5, §9.8, §14) pass against the reference instance,
// fail against it with the bug an implementer would make planted, and are excluded against a 1.0-only instance.
import { afterEach, describe, expect, it } from "vitest";
import { sendRaw } from "../protocol/http-client.ts";
import type { ServerDiscovery } from "../protocol/types.ts";
import { dispatcher, start } from "../tests/support/instances.ts";
import { removeDir, tempDir } from "../tests/support/temp-dir.ts";
import type { Instance } from "../reference-impl/instance.ts";
import { verifyKeyOfDiscovery } from "./checks/support/matchers.ts";
import { runOne } from "./runner.ts";
import { checkById, harnessAgainst, SELF_TEST_TOKEN } from "../tests/support/harness-self-test.ts";
import { declaresProofs } from "../tests/support/self-tests/proofs.ts";

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

async function reference(versions?: string[]): Promise<Instance> {
  const dir = tempDir("v11");
  const inst = await start("victim.example", dir, { includeVikunja: true, controlToken: SELF_TEST_TOKEN, ...(versions ? { protocolVersions: versions } : {}) });
  closers.push(async () => {
    await inst.close();
    removeDir(dir);
  });
  return inst;
}

async function runCheck(inst: Instance, id: string) {
  const doc = (await sendRaw(dispatcher, `${inst.url}/.well-known/smcp/server`, { method: "GET", headers: {}, timeoutMs: 5000 })).body as ServerDiscovery;
  const key = verifyKeyOfDiscovery(doc);
  const target = { name: inst.serverName, url: inst.url, key };
  const h = await harnessAgainst({ alice: target, bob: target });
  closers.push(h.close);
  h.ctx.alice.discovery = doc; // what sc/discovery/well-known establishes in a run
  return runOne(checkById(`${id}@alice`), h.ctx);
}

/** Internals of the reference a planted bug reaches into. */
type Internals = {
  leaves: { opts: { discoverVersions: (s: string) => Promise<readonly string[]> }; leave: (c: string) => Promise<void>; handleLeave: unknown };
  publisher: { opts: { senderKey: unknown } };
  senderCheck: unknown;
  transactions: { opts: { v11: boolean } };
};
const internals = (inst: Instance) => inst.naomi as unknown as Internals;

const CASES: Array<{ id: string; bug: string; plant: (inst: Instance) => void; says: RegExp }> = [
  {
    id: "v11/versions/no-leave-toward-old-hub", bug: "the hub's versions are not looked at (a leave goes to a 1.0 hub)",
    plant: (inst) => void (internals(inst).leaves.opts.discoverVersions = async () => ["1.0", "1.1"]), says: /leave|SMCP_INVALID|CHAN-29/,
  },
  {
    id: "v11/sender-sig/signs-submissions", bug: "submissions go out unsigned",
    plant: (inst) => void (internals(inst).publisher.opts.senderKey = null), says: /sender_signature/,
  },
  {
    id: "v11/sender-sig/forged-refused", bug: "participants take the hub's word for the sender (no sender check)",
    plant: (inst) => void (internals(inst).senderCheck = async () => (a: unknown) => a), says: /SMCP_BAD_EVENT|forged/,
  },
  {
    id: "v11/sender-sig/hub-refuses", bug: "the hub sequences submissions without checking their sender signature",
    plant: (inst) => void (internals(inst).transactions.opts.v11 = false), says: /SMCP_BAD_EVENT|sender_signature|sequenced/,
  },
  {
    id: "v11/leave/hub-sequences", bug: "the hub answers a leave without sequencing it (the leaver stays a member)",
    plant: (inst) => void (internals(inst).leaves.handleLeave = (_o: string, l: { channel: string }) => ({ channel: l.channel, event_id: "$" + "A".repeat(43), seq: 1 })),
    says: /member|leave/,
  },
  {
    id: "v11/leave/participant-leaves", bug: "the control leave answers without asking the hub",
    plant: (inst) => void (internals(inst).leaves.leave = async () => undefined), says: /joined|leave/,
  },
];

describe("protocol 1.1 checks against the reference instance", () => {
  declaresProofs(import.meta.url, CASES.map((c) => c.id));

  for (const c of CASES) {
    it(`${c.id} passes against the reference`, async () => {
      const r = await runCheck(await reference(), c.id);
      expect([r.status, r.details, r.actual]).toEqual(["pass", r.details, r.actual]);
    });

    it(`${c.id} fails when ${c.bug}`, async () => {
      const inst = await reference();
      c.plant(inst);
      const r = await runCheck(inst, c.id);
      expect(r.status).toBe("fail");
      expect(`${r.details.join(" ")} ${JSON.stringify(r.expected)} ${JSON.stringify(r.actual)}`).toMatch(c.says);
    });
  }

  it("every 1.1 check is excluded, with its reason, against a 1.0-only instance (--protocol-versions 1.0)", async () => {
    const inst = await reference(["1.0"]);
    for (const c of CASES) {
      const r = await runCheck(inst, c.id);
      expect([c.id, r.status]).toEqual([c.id, "excluded"]);
      expect(r.details.join(" ")).toMatch(/needs protocol 1\.1/);
    }
  });
});
