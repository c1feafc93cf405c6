// Conformance harness self-test: the over-deep data check (spec §7.2 EVT-20) passes against the reference instance
// and fails against the same instance with the depth bound left out of the hub's data check (the 1.0 behaviour).
import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_EVENT_DATA_DEPTH } from "../protocol/json-depth.ts";
import { sendRaw } from "../protocol/http-client.ts";
import type { ServerDiscovery } from "../protocol/types.ts";
import { control, dispatcher, enc, start } from "../tests/support/instances.ts";
import { removeDir, tempDir } from "../tests/support/temp-dir.ts";
import type { Instance } from "../reference-impl/instance.ts";
import { verifyKeyOfDiscovery } from "./checks/support/matchers.ts";
import { runOne } from "./runner.ts";
import { checkById, harnessAgainst, SELF_TEST_TOKEN } from "../tests/support/harness-self-test.ts";
import { declaresProofs } from "../tests/support/self-tests/proofs.ts";

const plant = vi.hoisted(() => ({ noDepthBound: false }));

// The planted bug: the hub's data check without its depth bound (canonical form and size only, as in 1.0).
vi.mock("../reference-impl/naomi/event-data.ts", async (importOriginal) => {
  const real = await importOriginal<typeof import("../reference-impl/naomi/event-data.ts")>();
  const { canonicalJson } = await import("../protocol/canonical-json.ts");
  const withoutDepth = (data: unknown, limit: number): ReturnType<typeof real.checkedData> => {
    let text: string;
    try {
      text = canonicalJson(data);
    } catch (err) {
      return { problem: { errcode: "SMCP_INVALID", path: "", error: `data has no canonical JSON form: ${(err as Error).message}` } };
    }
    const size = Buffer.byteLength(text);
    return size > limit ? { problem: { errcode: "SMCP_TOO_LARGE", path: "", error: `data is ${size} bytes` } } : { text };
  };
  // The hub's publish and submission paths call checkedData (dataProblem is its wrapper).
  const checkedData = (data: unknown, limit: number) => (plant.noDepthBound ? withoutDepth(data, limit) : real.checkedData(data, limit));
  return { ...real, checkedData, dataProblem: (data: unknown, limit: number) => { const c = checkedData(data, limit); return "problem" in c ? c.problem : null; } };
});

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  plant.noDepthBound = false;
  await Promise.all(closers.splice(0).map((c) => c()));
});

async function runAgainstReference(): Promise<ReturnType<typeof runOne>> {
  const dir = tempDir("deep");
  const inst: Instance = await start("hub.example", dir, { controlToken: SELF_TEST_TOKEN });
  closers.push(async () => {
    await inst.close();
    removeDir(dir);
  });
  const doc = (await sendRaw(dispatcher, `${inst.url}/.well-known/smcp/server`, { method: "GET", headers: {}, timeoutMs: 5000 })).body as ServerDiscovery;
  const target = { name: inst.serverName, url: inst.url, key: verifyKeyOfDiscovery(doc) };
  const h = await harnessAgainst({ alice: target, bob: target });
  closers.push(h.close);
  // The check's prerequisite: the instance hubs a channel the harness's fake peer has joined.
  await control(inst, "PUT", `/control/v1/hosts/${h.ctx.fake.name}`, { base_url: h.ctx.fake.url });
  const channel = ((await control(inst, "POST", "/control/v1/channels", { name: "adv" })).body as { channel: string }).channel;
  expect((await control(inst, "POST", `/control/v1/channels/${enc(channel)}/invites`, { server: h.ctx.fake.name })).body).toMatchObject({ accepted: true });
  h.ctx.state.adv.alice = { channel };
  return runOne(checkById("adv/txn/over-deep-data@alice"), h.ctx);
}

describe("adv/txn/over-deep-data against the reference instance", () => {
  declaresProofs(import.meta.url, ["adv/txn/over-deep-data"]);

  it("passes: the hub refuses data nested deeper than MAX_EVENT_DATA_DEPTH levels before sequencing (EVT-20)", async () => {
    const r = await runAgainstReference();
    expect([r.status, r.details]).toEqual(["pass", r.details]);
  });

  it("fails when the hub's depth bound is left out", async () => {
    plant.noDepthBound = true;
    const r = await runAgainstReference();
    expect([r.status, r.category]).toEqual(["fail", "requirement"]);
    expect(r.details.join(" ")).toMatch(new RegExp(`${MAX_EVENT_DATA_DEPTH + 20} / ${MAX_EVENT_DATA_DEPTH + 1} / ${MAX_EVENT_DATA_DEPTH}`));
  });
});
