// Judith exactly-once across a partition (spec §18.1.3 JDT-15, JDT-16): bob runs alice's call step but every answer is
// cut on the way back; alice retries under the same call_id through the partition and after it heals, and bob's tool
// has run exactly once (one follow-up task) however many attempts crossed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JudithRun, RemoteCallResult } from "../protocol/types.ts";
import { createChannel } from "./support/cluster.ts";
import { mapHosts, startBehindProxy, startPlain, type Node } from "./support/cluster.ts";
import { control } from "./support/instances.ts";
import { removeDir } from "./support/temp-dir.ts";
import { until } from "./support/until.ts";

describe("Judith: a call step across a partition", () => {
  let alice: Node;
  let bob: Node;
  let channel: string;

  beforeAll(async () => {
    bob = await startBehindProxy("bob.example", { includeVikunja: true, judith: { tickMs: 50 } });
    alice = await startPlain("alice.example", { judith: { tickMs: 50, retryBaseMs: 20, retryMaxMs: 100 } });
    await mapHosts([alice, bob]);
    channel = await createChannel(bob.inst, "ops", [alice.inst]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([alice?.inst.close(), bob?.inst.close(), bob?.proxy?.close()]);
    [alice, bob].forEach((n) => n && removeDir(n.dir));
  });

  const bobTasks = async () => {
    const r = await control(bob.inst, "POST", "/control/v1/calls", { target: "smcp://bob.example/vikunja", tool: "list_tasks", params: {} });
    return ((r.body as RemoteCallResult).result.structuredContent as { tasks: Array<{ title: string }> }).tasks;
  };

  it("answers dropped, then no connection at all, then healed: one task on bob, the run succeeded", async () => {
    const wf = { name: "across", channel, steps: [{ id: "task", call: { target: "smcp://bob.example/vikunja", tool: "create_task", params: { title: "through the partition" } }, timeout_ms: 60_000 }] };
    expect((await control(alice.inst, "POST", "/control/v1/judith/workflows", wf)).status).toBe(201);
    bob.proxy!.set("drop-responses");
    const run = (await control(alice.inst, "POST", "/control/v1/judith/runs", { workflow: "across" })).body as JudithRun;
    await until("two attempts whose answers were dropped", () => bob.proxy!.seen(/^POST \/federation\/v1\/call/).length >= 2);
    bob.proxy!.set("partition");
    await until("an attempt refused by the partition", () => bob.proxy!.refusedConnections >= 1);
    expect((await control(alice.inst, "GET", `/control/v1/judith/runs/${run.run_id}`)).body).toMatchObject({ state: "running" });
    bob.proxy!.set("pass");
    const done = await until("the run finished", async () => {
      const r = (await control(alice.inst, "GET", `/control/v1/judith/runs/${run.run_id}`)).body as JudithRun;
      return r.state !== "running" ? r : undefined;
    }, 30_000);
    expect(done.state).toBe("succeeded");
    expect(bob.proxy!.seen(/^POST \/federation\/v1\/call/).length).toBeGreaterThanOrEqual(3);
    expect((await bobTasks()).filter((t) => t.title === "through the partition")).toHaveLength(1);
  }, 90_000);
});
