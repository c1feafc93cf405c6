// Conformance harness self-test: the call-rights check (spec §10.5 CALL-21) passes against the reference instance and
// fails against the same instance with the pre-1.0.1 rule planted (any co-member of any channel may call).
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

/** A reference instance in the conformance profile, with the harness's self-test control token. */
async function reference(name: string): Promise<Instance> {
  const dir = tempDir(name.split(".")[0]!);
  const inst = await start(name, dir, { includeVikunja: true, controlToken: SELF_TEST_TOKEN });
  closers.push(async () => {
    await inst.close();
    removeDir(dir);
  });
  return inst;
}

async function runCheck(inst: Instance) {
  const doc = (await sendRaw(dispatcher, `${inst.url}/.well-known/smcp/server`, { method: "GET", headers: {}, timeoutMs: 5000 })).body as ServerDiscovery;
  const key = verifyKeyOfDiscovery(doc);
  const target = { name: inst.serverName, url: inst.url, key };
  const h = await harnessAgainst({ alice: target, bob: target });
  closers.push(h.close);
  return runOne(checkById("adv/calls/self-hubbed-co-member@alice"), h.ctx);
}

describe("adv/calls/self-hubbed-co-member against the reference instance", () => {
  declaresProofs(import.meta.url, ["adv/calls/self-hubbed-co-member"]);

  it("passes: the callee's own channels are the only ones that grant calls (CALL-21)", async () => {
    const r = await runCheck(await reference("victim.example"));
    expect([r.status, r.details]).toEqual(["pass", r.details]);
  });

  it("fails when the old rule is planted: membership of any channel, whoever hubs it, grants calls", async () => {
    const inst = await reference("victim.example");
    // The rule of 1.0: the origin is a current member of any channel we are joined to, hubbed by anyone.
    const sharesChannel = inst.store.db.prepare(
      `SELECT 1 FROM members m JOIN channels c ON c.channel = m.channel WHERE m.server = ? AND m.left_seq IS NULL AND c.joined = 1 LIMIT 1`,
    );
    (inst.roshumba as unknown as { mayCall: (o: string) => boolean }).mayCall = (o) => sharesChannel.get(o) !== undefined;
    const r = await runCheck(inst);
    expect([r.status, r.category]).toEqual(["fail", "requirement"]);
    expect(`${r.details.join(" ")} ${r.expected} ${r.actual}`).toMatch(/403|SMCP_FORBIDDEN/);
  });
});
