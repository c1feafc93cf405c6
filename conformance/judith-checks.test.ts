// Conformance harness self-test: the Judith profile checks (spec §18.1) pass against two reference instances and each
// fails against the same instances with the bug an implementer would make planted (observer blind, remote step run
// twice, tool errors taken for success, no timeouts, cancel ignored, input unbounded, run state lost at a restart).
import Database from "better-sqlite3";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { sendRaw } from "../protocol/http-client.ts";
import type { CallTool, RemoteCallResult, ServerDiscovery } from "../protocol/types.ts";
import type { InstanceConfig } from "../reference-impl/config.ts";
import type { Instance } from "../reference-impl/instance.ts";
import { JUDITH_LIMITS } from "../reference-impl/judith/limits.ts";
import { checkById, harnessAgainst, SELF_TEST_TOKEN, type Harness } from "../tests/support/harness-self-test.ts";
import { connect, dispatcher, start } from "../tests/support/instances.ts";
import { freePort } from "../tests/support/process.ts";
import { declaresProofs } from "../tests/support/self-tests/proofs.ts";
import { removeDir, tempDir } from "../tests/support/temp-dir.ts";
import { verifyKeyOfDiscovery } from "./checks/support/matchers.ts";
import { runOne, type CheckResult } from "./runner.ts";

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** A reference instance that can be restarted on the same data, port and token (what the harness's restart does). */
interface Restartable {
  inst: Instance;
  restart(): Promise<void>;
  /** Runs on the data directory between stop and start (a planted durability bug). */
  beforeStart?: (dataDir: string) => void;
}

async function reference(name: string, extra: Partial<InstanceConfig> = {}): Promise<Restartable> {
  const dir = tempDir(name.split(".")[0]!);
  const port = await freePort();
  const config = { includeVikunja: true, controlToken: SELF_TEST_TOKEN, listenPort: port, judith: { tickMs: 50 }, ...extra };
  const r: Restartable = {
    inst: await start(name, dir, config),
    restart: async () => {
      await r.inst.close();
      r.beforeStart?.(dir);
      r.inst = await start(name, dir, config);
    },
  };
  closers.push(async () => {
    await r.inst.close();
    removeDir(dir);
  });
  return r;
}

async function pair(aliceExtra: Partial<InstanceConfig> = {}): Promise<{ alice: Restartable; bob: Restartable; h: Harness }> {
  const alice = await reference("alice.example", aliceExtra);
  const bob = await reference("bob.example");
  await connect(alice.inst, bob.inst);
  const target = async (r: Restartable) => {
    const doc = (await sendRaw(dispatcher, `${r.inst.url}/.well-known/smcp/server`, { method: "GET", headers: {}, timeoutMs: 5000 })).body as ServerDiscovery;
    return { name: r.inst.serverName, url: r.inst.url, key: verifyKeyOfDiscovery(doc) };
  };
  const h = await harnessAgainst({ alice: await target(alice), bob: await target(bob) });
  h.ctx.alice.restart = () => alice.restart();
  closers.push(h.close);
  return { alice, bob, h };
}

const run = (h: Harness, id: string): Promise<CheckResult> => runOne(checkById(id), h.ctx);
const SETUP = "judith/setup/channel";

/** The engine's services (its Roshumba facade), for planting call bugs. */
function services(inst: Instance): { callTool: (req: CallTool) => Promise<RemoteCallResult> } {
  return (inst.judith as unknown as { engine: { o: { services: { callTool: (req: CallTool) => Promise<RemoteCallResult> } } } }).engine.o.services;
}
const engine = (inst: Instance) => (inst.judith as unknown as { engine: Record<string, unknown> }).engine;

async function failsWith(h: Harness, id: string, pattern: RegExp): Promise<void> {
  expect((await run(h, SETUP)).status).toBe("pass");
  const r = await run(h, id);
  expect([r.status, r.category]).toEqual(["fail", "requirement"]);
  expect(`${r.details.join(" ")} ${r.expected} ${r.actual}`).toMatch(pattern);
}

describe("judith/* checks against the reference instance", () => {
  declaresProofs(import.meta.url, [
    "judith/setup/channel", "judith/run/cross-instance", "judith/run/failing-step", "judith/run/step-timeout", "judith/run/wait-and-cancel",
    "judith/bounds", "judith/dur/resume-after-restart",
  ]);

  it("every judith check passes against two untouched reference instances", async () => {
    const { h } = await pair();
    for (const id of [SETUP, "judith/run/cross-instance", "judith/run/failing-step", "judith/run/step-timeout", "judith/run/wait-and-cancel", "judith/bounds", "judith/dur/resume-after-restart"]) {
      const r = await run(h, id);
      expect([id, r.status, r.details, r.actual]).toEqual([id, "pass", r.details, r.actual]);
    }
  }, 120_000);

  it("judith/setup/channel fails when the profile is not enabled (judith missing from components)", async () => {
    const { h } = await pair({ judith: { enabled: false } });
    const r = await run(h, SETUP);
    expect([r.status, r.category]).toEqual(["fail", "requirement"]);
    expect(`${r.details.join(" ")} ${r.expected}`).toMatch(/judith/);
  }, 60_000);

  it("judith/run/cross-instance fails when bob's observer ignores the channel's judith: events", async () => {
    const { bob, h } = await pair();
    (bob.inst.judith as unknown as { observer: { catchUp: () => Promise<void> } }).observer.catchUp = async () => {};
    await failsWith(h, "judith/run/cross-instance", /bob observes|not reached/);
  }, 60_000);

  it("judith/run/cross-instance fails when a remote step is sent under a fresh call_id per attempt (run twice)", async () => {
    const { alice, h } = await pair();
    const s = services(alice.inst);
    const callTool = s.callTool;
    s.callTool = async (req) => {
      await callTool({ ...req, call_id: `${req.call_id}.retry` });
      return callTool(req);
    };
    await failsWith(h, "judith/run/cross-instance", /exactly one follow-up/);
  }, 60_000);

  it("judith/run/failing-step fails when a tool's isError result is taken for success", async () => {
    const { alice, h } = await pair();
    const s = services(alice.inst);
    const callTool = s.callTool;
    s.callTool = async (req) => {
      const r = await callTool(req);
      return { ...r, result: { ...r.result, isError: false } };
    };
    await failsWith(h, "judith/run/failing-step", /failure/);
  }, 60_000);

  it("judith/run/step-timeout fails when step deadlines are never checked", async () => {
    const { alice, h } = await pair();
    engine(alice.inst).tick = () => {};
    await failsWith(h, "judith/run/step-timeout", /not reached|time out/);
  }, 60_000);

  it("judith/run/wait-and-cancel fails when cancel answers the run but does not end it", async () => {
    const { alice, h } = await pair();
    engine(alice.inst).cancel = () => {};
    await failsWith(h, "judith/run/wait-and-cancel", /cancel/);
  }, 60_000);

  it("judith/bounds fails when the run's input is not bounded", async () => {
    const { h } = await pair();
    const limits = JUDITH_LIMITS as { maxInputBytes: number };
    const saved = limits.maxInputBytes;
    limits.maxInputBytes = 1_000_000_000;
    try {
      await failsWith(h, "judith/bounds", /SMCP_TOO_LARGE|16 384/);
    } finally {
      limits.maxInputBytes = saved;
    }
  }, 60_000);

  it("judith/dur/resume-after-restart fails when run state does not survive the restart", async () => {
    const { alice, h } = await pair();
    alice.beforeStart = (dir) => {
      const db = new Database(join(dir, "smcp.sqlite"));
      db.exec("DELETE FROM judith_steps; DELETE FROM judith_runs; DELETE FROM judith_outbox;");
      db.close();
    };
    await failsWith(h, "judith/dur/resume-after-restart", /not kept|SMCP_NOT_FOUND|404/);
  }, 60_000);
});
