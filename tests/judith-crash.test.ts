// Judith exactly-once across a crash (spec §18.1.3 JDT-15..JDT-17): alice, a separate process, is killed with SIGKILL
// while its run's call to bob's slow tool is in flight, and restarted on the same data; the run resumes under the same
// call_id, bob's tool has run exactly once, and the next step (a vikunja task on bob) exists exactly once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JudithRun, RemoteCallResult } from "../protocol/types.ts";
import type { Instance } from "../reference-impl/instance.ts";
import { fixtureConfig } from "./support/components.ts";
import { control, enc, start } from "./support/instances.ts";
import { freePort, InstanceProcess } from "./support/process.ts";
import { removeDir, tempDir } from "./support/temp-dir.ts";
import { until } from "./support/until.ts";

describe("Judith: a run survives SIGKILL of its owner with every step executed exactly once", () => {
  let alice: InstanceProcess;
  let bob: Instance;
  let channel: string;
  const dirs: string[] = [];

  beforeAll(async () => {
    dirs.push(tempDir("jcrash-alice"), tempDir("jcrash-bob"));
    bob = await start("bob.example", dirs[1]!, { includeVikunja: true, components: [fixtureConfig()], judith: { tickMs: 50 } });
    alice = await InstanceProcess.start({
      name: "alice.example", port: await freePort(), dataDir: dirs[0]!, peers: { "bob.example": bob.url },
      config: { judith: { tickMs: 50, retryBaseMs: 20, retryMaxMs: 200 } },
    });
    expect((await control(bob, "PUT", "/control/v1/hosts/alice.example", { base_url: alice.url })).status).toBe(204);
    channel = "!ops:bob.example";
    expect((await control(bob, "POST", "/control/v1/channels", { name: "ops" })).status).toBe(201);
    expect((await control(bob, "POST", `/control/v1/channels/${enc(channel)}/invites`, { server: "alice.example" })).body).toMatchObject({ accepted: true });
    await until("alice joined", async () => ((await alice.control("GET", `/control/v1/channels/${enc(channel)}`)).body as { joined?: boolean }).joined);
  }, 60_000);

  afterAll(async () => {
    await alice?.stop();
    await bob?.close();
    dirs.forEach(removeDir);
  });

  const bobCall = async (component: string, tool: string, params: Record<string, unknown>) => {
    const r = await control(bob, "POST", "/control/v1/calls", { target: `smcp://bob.example/${component}`, tool, params });
    expect(r.status).toBe(200);
    return (r.body as RemoteCallResult).result.structuredContent as Record<string, unknown>;
  };
  const aliceRun = async (id: string) => (await alice.control("GET", `/control/v1/judith/runs/${id}`)).body as JudithRun;
  const bobInFlight = () => (bob.roshumba as unknown as { inFlight: Map<string, unknown> }).inFlight.size;

  it("kill -9 mid-call: after the restart the run succeeds, bob's tool ran once, the follow-up task exists once", async () => {
    const wf = {
      name: "slow-handoff", channel,
      steps: [
        { id: "slow", call: { target: "smcp://bob.example/fixture", tool: "sleep", params: { ms: 1_500 } }, timeout_ms: 60_000 },
        { id: "task", call: { target: "smcp://bob.example/vikunja", tool: "create_task", params: { title: { $concat: ["after crash, slept ", { $from: "slow.result.structuredContent.slept" }] } } } },
      ],
    };
    expect((await alice.control("POST", "/control/v1/judith/workflows", wf)).status).toBe(201);
    const run = (await alice.control("POST", "/control/v1/judith/runs", { workflow: "slow-handoff", run_id: "crash-run-0001" })).body as JudithRun;
    expect(run.state).toBe("running");
    await until("bob running alice's call", () => bobInFlight() === 1);
    const callId = (await aliceRun(run.run_id)).steps[0]!.call_id;
    await alice.kill9();
    await alice.restart();
    const done = await until("the resumed run finished", async () => {
      const r = await aliceRun(run.run_id);
      return r.state !== "running" ? r : undefined;
    }, 30_000);
    expect([done.state, done.steps.map((s) => s.state)]).toEqual(["succeeded", ["succeeded", "succeeded"]]);
    expect(done.steps[0]!.call_id).toBe(callId);
    // The fixture counts its invocations: the workflow's one, then this probe's — exactly 2.
    expect((await bobCall("fixture", "sleep", { ms: 0 })).calls).toBe(2);
    const tasks = (await bobCall("vikunja", "list_tasks", {})).tasks as Array<{ title: string }>;
    expect(tasks.filter((t) => t.title === "after crash, slept 1500")).toHaveLength(1);
    // bob observes the run, and its step.finished for "slow" once per attempt that finished — here exactly once.
    const seen = await until("bob observes success", async () => {
      const r = (await control(bob, "GET", `/control/v1/judith/runs/${run.run_id}`)).body as JudithRun;
      return r.state === "succeeded" ? r : undefined;
    });
    expect(seen.steps.map((s) => s.state)).toEqual(["succeeded", "succeeded"]);
  }, 90_000);

  it("kill -9 right after the start, before or during the first attempt: the slow step still runs exactly once", async () => {
    const before = (await bobCall("fixture", "sleep", { ms: 0 })).calls as number;
    const run = (await alice.control("POST", "/control/v1/judith/runs", { workflow: "slow-handoff", run_id: "crash-run-0002" })).body as JudithRun;
    await alice.kill9();
    await alice.restart();
    const done = await until("the resumed run finished", async () => {
      const r = await aliceRun(run.run_id);
      return r.state !== "running" ? r : undefined;
    }, 30_000);
    expect(done.state).toBe("succeeded");
    const after = (await bobCall("fixture", "sleep", { ms: 0 })).calls as number;
    // The probe itself counts one: the run's slow step ran at most once (exactly once, since it succeeded).
    expect(after - before).toBe(2);
  }, 90_000);
});
