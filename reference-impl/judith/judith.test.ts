// Tests of the Judith profile (spec §18.1) on two real instances: the vikunja follow-up example end to end, a failing
// step, step and run timeouts on an injected clock, cancellation, the bounds, and the observer's view on bob.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JudithRun, JudithWorkflow, RemoteCallResult } from "../../protocol/types.ts";
import type { Instance } from "../instance.ts";
import { createChannel, publish } from "../../tests/support/cluster.ts";
import { connect, control, start } from "../../tests/support/instances.ts";
import { removeDir, tempDir } from "../../tests/support/temp-dir.ts";
import { until } from "../../tests/support/until.ts";

describe("Judith: workflows across alice and bob", () => {
  let alice: Instance;
  let bob: Instance;
  let channel: string;
  const dirs: string[] = [];
  let clock = Date.now();
  let skew = 0;
  const now = () => Date.now() + skew;

  beforeAll(async () => {
    dirs.push(tempDir("judith-alice"), tempDir("judith-bob"));
    alice = await start("alice.example", dirs[0]!, { includeVikunja: true, now, judith: { tickMs: 0, retryBaseMs: 20, retryMaxMs: 100 } });
    bob = await start("bob.example", dirs[1]!, { includeVikunja: true, judith: { tickMs: 0 } });
    await connect(alice, bob);
    // bob hubs the handoff channel and invites alice: that is what lets alice call bob's vikunja (CALL-21).
    channel = await createChannel(bob, "ops", [alice]);
    clock = now();
  });

  afterAll(async () => {
    await Promise.all([alice?.close(), bob?.close()]);
    dirs.forEach(removeDir);
  });

  const call = async (inst: Instance, tool: string, params: Record<string, unknown>) => {
    const r = await control(inst, "POST", "/control/v1/calls", { target: `smcp://${inst.serverName}/vikunja`, tool, params });
    expect(r.status).toBe(200);
    return (r.body as RemoteCallResult).result.structuredContent as Record<string, unknown>;
  };
  const tasks = async (inst: Instance) => (await call(inst, "list_tasks", {})).tasks as Array<{ id: number; title: string; done: boolean }>;
  const define = (wf: JudithWorkflow) => control(alice, "POST", "/control/v1/judith/workflows", wf);
  const startRun = (workflow: string, input: Record<string, unknown> = {}, run_id?: string) =>
    control(alice, "POST", "/control/v1/judith/runs", { workflow, input, ...(run_id ? { run_id } : {}) });
  const runOn = async (inst: Instance, id: string) => {
    const r = await control(inst, "GET", `/control/v1/judith/runs/${id}`);
    return r.status === 200 ? (r.body as JudithRun) : undefined;
  };
  const final = (inst: Instance, id: string) =>
    until(`run ${id} final on ${inst.serverName}`, async () => {
      const r = await runOn(inst, id);
      return r && r.state !== "running" ? r : undefined;
    });

  const followUp = (name: string): JudithWorkflow => ({
    name, channel,
    steps: [
      { id: "complete", call: { target: "smcp://alice.example/vikunja", tool: "complete_task", params: { id: { $from: "input.task_id" } } } },
      {
        id: "followup",
        call: { target: "smcp://bob.example/vikunja", tool: "create_task", params: { title: { $concat: ["Follow-up: ", { $from: "complete.result.structuredContent.task.title" }] } } },
      },
    ],
  });

  it("the vikunja example: a task completed on alice becomes a follow-up task on bob, and both see the run", async () => {
    const created = (await call(alice, "create_task", { title: "Bake bread" })).task as { id: number };
    expect((await define(followUp("followup"))).status).toBe(201);
    expect((await define(followUp("followup"))).status).toBe(201);
    expect((await control(alice, "GET", "/control/v1/judith/workflows")).body).toMatchObject({ workflows: [{ name: "followup" }] });
    const started = await startRun("followup", { task_id: created.id });
    expect(started.status).toBe(201);
    const run = started.body as JudithRun;
    expect(run).toMatchObject({ workflow: "followup", owner: "alice.example", role: "owner", state: "running", channel });
    const done = await final(alice, run.run_id);
    expect(done.state).toBe("succeeded");
    expect(done.steps.map((s) => s.state)).toEqual(["succeeded", "succeeded"]);
    expect(done.steps[1]!.call_id).toMatch(/^judith\./);
    expect((await tasks(alice)).find((t) => t.id === created.id)?.done).toBe(true);
    expect((await tasks(bob)).filter((t) => t.title === "Follow-up: Bake bread")).toHaveLength(1);
    // bob sees the same run through the channel's judith: events.
    const seen = await until("bob observes the run finished", async () => {
      const r = await runOn(bob, run.run_id);
      return r?.state === "succeeded" ? r : undefined;
    });
    expect(seen).toMatchObject({ role: "observer", owner: "alice.example", workflow: "followup", channel });
    expect(seen.steps.map((s) => [s.id, s.state])).toEqual([["complete", "succeeded"], ["followup", "succeeded"]]);
    expect(seen.steps[1]!.call_id).toBe(done.steps[1]!.call_id);
    // A start repeated with the same run_id is the same run, not a second one.
    const again = await startRun("followup", { task_id: created.id }, "fixed-run-id-1");
    expect(again.status).toBe(201);
    await final(alice, "fixed-run-id-1");
    const repeat = await startRun("followup", { task_id: created.id }, "fixed-run-id-1");
    expect([repeat.status, (repeat.body as JudithRun).run_id, (repeat.body as JudithRun).state]).toEqual([201, "fixed-run-id-1", "succeeded"]);
    expect((await startRun("followup", { task_id: 424242 }, "fixed-run-id-1")).body).toMatchObject({ errcode: "SMCP_CONFLICT" });
    const list = (await control(bob, "GET", "/control/v1/judith/runs")).body as { runs: JudithRun[] };
    expect(list.runs.filter((r) => r.owner === "alice.example").map((r) => r.run_id)).toContain(run.run_id);
  });

  it("a failing step is reported with its error, and no later step runs", async () => {
    const before = (await tasks(bob)).length;
    expect((await define(followUp("followup-fails"))).status).toBe(201);
    const run = (await startRun("followup-fails", { task_id: 999_999 })).body as JudithRun;
    const done = await final(alice, run.run_id);
    expect(done.state).toBe("failed");
    expect(done.steps.map((s) => s.state)).toEqual(["failed", "pending"]);
    expect(done.steps[0]!.error).toEqual({ errcode: "JUDITH_TOOL_ERROR", error: expect.stringMatching(/no task with id 999999/) });
    expect(done.error?.errcode).toBe("JUDITH_TOOL_ERROR");
    expect((await tasks(bob)).length).toBe(before);
    const seen = await until("bob observes the failure", async () => ((await runOn(bob, run.run_id))?.state === "failed" ? runOn(bob, run.run_id) : undefined));
    expect(seen!.steps[0]!.error?.errcode).toBe("JUDITH_TOOL_ERROR");
  });

  it("a reference to a value the earlier steps did not produce fails the step with JUDITH_BAD_REFERENCE", async () => {
    const wf: JudithWorkflow = { name: "bad-ref", channel, steps: [{ id: "s1", call: { target: "smcp://bob.example/vikunja", tool: "create_task", params: { title: { $from: "input.missing" } } } }] };
    expect((await define(wf)).status).toBe(201);
    const done = await final(alice, ((await startRun("bad-ref")).body as JudithRun).run_id);
    expect([done.state, done.steps[0]!.error?.errcode]).toEqual(["failed", "JUDITH_BAD_REFERENCE"]);
  });

  it("a wait step completes on the matching event from bob, its output referenced by the next step", async () => {
    const wf: JudithWorkflow = {
      name: "approval", channel,
      steps: [
        { id: "approved", wait: { type: "ops:approved", match: { run: { $from: "run.run_id" } } }, timeout_ms: 60_000 },
        { id: "record", call: { target: "smcp://bob.example/vikunja", tool: "create_task", params: { title: { $concat: ["approved by ", { $from: "approved.event.sender" }] } } } },
      ],
    };
    expect((await define(wf)).status).toBe(201);
    const run = (await startRun("approval")).body as JudithRun;
    await until("the wait step running", async () => (await runOn(alice, run.run_id))?.steps[0]!.state === "running");
    expect((await publish(bob, channel, { run: "someone-else" }, "ops:approved")).status).toBe(200);
    expect((await publish(bob, channel, { run: run.run_id }, "ops:approved")).status).toBe(200);
    const done = await final(alice, run.run_id);
    expect(done.state).toBe("succeeded");
    expect((done.steps[0]!.output as { event: { data: unknown } }).event.data).toEqual({ run: run.run_id });
    expect((await tasks(bob)).filter((t) => t.title === "approved by bob.example")).toHaveLength(1);
  });

  it("a step timeout and a run timeout end the run timed_out (injected clock)", async () => {
    const wf: JudithWorkflow = { name: "waits", channel, timeout_ms: 3_600_000, steps: [{ id: "never", wait: { type: "ops:never" }, timeout_ms: 5_000 }] };
    expect((await define(wf)).status).toBe(201);
    const run = (await startRun("waits")).body as JudithRun;
    await until("the wait step running", async () => (await runOn(alice, run.run_id))?.steps[0]!.state === "running");
    alice.judith!.tick();
    expect((await runOn(alice, run.run_id))!.state).toBe("running");
    skew += 5_001;
    alice.judith!.tick();
    const done = await final(alice, run.run_id);
    expect([done.state, done.steps[0]!.state, done.steps[0]!.error?.errcode]).toEqual(["timed_out", "timed_out", "JUDITH_TIMEOUT"]);
    expect(done.steps[0]!.error?.error).toMatch(/step never/);

    const whole: JudithWorkflow = { name: "run-timeout", channel, timeout_ms: 10_000, steps: [{ id: "never", wait: { type: "ops:never" }, timeout_ms: 3_600_000 }] };
    expect((await define(whole)).status).toBe(201);
    const r2 = (await startRun("run-timeout")).body as JudithRun;
    await until("the wait step running", async () => (await runOn(alice, r2.run_id))?.steps[0]!.state === "running");
    skew += 10_001;
    alice.judith!.tick();
    const d2 = await final(alice, r2.run_id);
    expect([d2.state, d2.error?.errcode, d2.error?.error]).toEqual(["timed_out", "JUDITH_TIMEOUT", "the run did not finish within its timeout"]);
    void clock;
  });

  it("cancellation ends the run and its step in flight; bob observes it; only the owner may cancel", async () => {
    const wf: JudithWorkflow = { name: "cancel-me", channel, steps: [{ id: "wait", wait: { type: "ops:never" }, timeout_ms: 3_600_000 }, { id: "after", call: { target: "smcp://bob.example/vikunja", tool: "create_task", params: { title: "must not exist" } } }] };
    expect((await define(wf)).status).toBe(201);
    const run = (await startRun("cancel-me")).body as JudithRun;
    await until("the wait step running", async () => (await runOn(alice, run.run_id))?.steps[0]!.state === "running");
    await until("bob observes the run", () => runOn(bob, run.run_id));
    expect((await control(bob, "POST", `/control/v1/judith/runs/${run.run_id}/cancel`)).body).toMatchObject({ errcode: "SMCP_FORBIDDEN" });
    const cancelled = await control(alice, "POST", `/control/v1/judith/runs/${run.run_id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect((cancelled.body as JudithRun).state).toBe("cancelled");
    expect((cancelled.body as JudithRun).steps.map((s) => s.state)).toEqual(["cancelled", "pending"]);
    expect(((await control(alice, "POST", `/control/v1/judith/runs/${run.run_id}/cancel`)).body as JudithRun).state).toBe("cancelled");
    await until("bob observes the cancellation", async () => (await runOn(bob, run.run_id))?.state === "cancelled");
    expect((await tasks(bob)).filter((t) => t.title === "must not exist")).toHaveLength(0);
  });

  it("bounds and bad definitions get clear errors in the spec's format", async () => {
    const step = (id: string) => ({ id, call: { target: "smcp://bob.example/vikunja", tool: "list_tasks", params: {} } });
    const tooMany = await define({ name: "too-many", channel, steps: Array.from({ length: 33 }, (_, i) => step(`s${i}`)) });
    expect([tooMany.status, (tooMany.body as { errcode: string }).errcode]).toEqual([400, "SMCP_INVALID"]);
    const dup = await define({ name: "dup", channel, steps: [step("a"), step("a")] });
    expect([dup.status, (dup.body as { details: Array<{ path: string }> }).details[0]!.path]).toEqual([400, "/steps/1/id"]);
    const forward = await define({ name: "forward", channel, steps: [{ id: "a", call: { target: "smcp://bob.example/vikunja", tool: "create_task", params: { title: { $from: "b.result" } } } }, step("b")] });
    expect([forward.status, (forward.body as { details: Array<{ path: string }> }).details[0]!.path]).toEqual([400, "/steps/0/call/params/title/$from"]);
    const code = await define({ name: "code", channel, steps: [{ id: "a", call: { target: "smcp://bob.example/vikunja", tool: "create_task", params: { title: { $eval: "process.exit()" } } } }] });
    expect([code.status, (code.body as { errcode: string }).errcode]).toEqual([400, "SMCP_INVALID"]);
    const both = await define({ name: "both", channel, steps: [{ ...step("a"), wait: { type: "x:y" } }] });
    expect(both.status).toBe(400);
    const unknown = await define({ name: "elsewhere", channel: "!nowhere:bob.example", steps: [step("a")] });
    expect([unknown.status, (unknown.body as { errcode: string }).errcode]).toEqual([404, "SMCP_UNKNOWN_CHANNEL"]);
    expect((await define({ name: "followup", channel, steps: [step("other")] })).body).toMatchObject({ errcode: "SMCP_CONFLICT" });
    const big = await startRun("followup", { pad: "x".repeat(16_400) });
    expect([big.status, (big.body as { errcode: string }).errcode]).toEqual([413, "SMCP_TOO_LARGE"]);
    expect((await startRun("no-such-workflow")).body).toMatchObject({ errcode: "SMCP_NOT_FOUND" });
    expect((await control(alice, "GET", "/control/v1/judith/runs/no-such-run")).body).toMatchObject({ errcode: "SMCP_NOT_FOUND" });
  });

  it("at most 64 runs are in flight; the 65th start is refused with SMCP_RATE_LIMITED and retry_after_ms", async () => {
    const wf: JudithWorkflow = { name: "flight", channel, steps: [{ id: "w", wait: { type: "ops:never" }, timeout_ms: 3_600_000 }] };
    expect((await define(wf)).status).toBe(201);
    const running = ((await control(alice, "GET", "/control/v1/judith/runs?limit=1000")).body as { runs: JudithRun[] }).runs.filter((r) => r.role === "owner" && r.state === "running").length;
    const ids: string[] = [];
    for (let i = running; i < 64; i++) {
      const r = await startRun("flight");
      expect(r.status).toBe(201);
      ids.push((r.body as JudithRun).run_id);
    }
    const refused = await startRun("flight");
    expect([refused.status, (refused.body as { errcode: string }).errcode]).toEqual([429, "SMCP_RATE_LIMITED"]);
    expect((refused.body as { retry_after_ms: number }).retry_after_ms).toBeGreaterThan(0);
    for (const id of ids) expect((await control(alice, "POST", `/control/v1/judith/runs/${id}/cancel`)).status).toBe(200);
    expect((await startRun("flight")).status).toBe(201);
  });
});
