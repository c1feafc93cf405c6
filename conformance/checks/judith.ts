// Conformance harness: the Judith profile (spec §18.1) — a workflow defined on alice with steps on alice and bob, driven
// through both Control APIs: the run seen on both sides, the remote step exactly once (bob's task count), a failing step
// with its error, a step timeout, cancellation, the bounds, and a run resumed after alice is killed mid-run.
import type { HttpAnswer } from "../../protocol/http-client.ts";
import { validate } from "../../protocol/schemas.ts";
import type { Event, JudithRun, JudithWorkflow, RemoteCallResult } from "../../protocol/types.ts";
import { CheckFailure, ensure, expectError, expectOk, fail } from "../assert.ts";
import type { Check, CheckContext, Target } from "../context.ts";
import { taskOf, tasksOf } from "./support/matchers.ts";
import { uid } from "./support/requests.ts";
import { known } from "./support/state.ts";

/** The handoff channel of one harness run: hubbed by bob, alice a member (so alice may call bob, CALL-21). */
const channels = new Map<string, string>();

function channelOf(ctx: CheckContext): string {
  const ch = channels.get(ctx.runId);
  if (!ch) throw new CheckFailure("judith/setup/channel did not create the handoff channel", undefined, undefined, "harness-error");
  return ch;
}

const WORKFLOWS = "/control/v1/judith/workflows";
const RUNS = "/control/v1/judith/runs";
const runPath = (id: string) => `${RUNS}/${encodeURIComponent(id)}`;

async function define(t: Target, wf: JudithWorkflow): Promise<void> {
  expectOk<JudithWorkflow>(await t.control.request("POST", WORKFLOWS, wf), "JudithWorkflow", `define workflow ${wf.name} on ${t.role}`, 201);
}

async function startRun(t: Target, workflow: string, input: Record<string, unknown> = {}, runId?: string): Promise<JudithRun> {
  const body = { workflow, input, ...(runId ? { run_id: runId } : {}) };
  return expectOk<JudithRun>(await t.control.request("POST", RUNS, body), "JudithRun", `start a run of ${workflow} on ${t.role}`, 201);
}

async function getRun(t: Target, id: string): Promise<HttpAnswer> {
  return t.control.request("GET", runPath(id));
}

/** Polls a run until `done` holds (every 50 ms, at most `ms`); the last view is in the failure. */
async function awaitRun(t: Target, id: string, done: (r: JudithRun) => boolean, what: string, ms: number): Promise<JudithRun> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    const a = await getRun(t, id);
    if (a.status === 200) {
      const r = expectOk<JudithRun>(a, "JudithRun", `GET run ${id} on ${t.role}`);
      if (done(r)) return r;
      last = { state: r.state, steps: r.steps.map((s) => `${s.id}:${s.state}`) };
    } else last = `${a.status} ${JSON.stringify(a.body)}`;
    if (Date.now() > deadline) fail(`${what}: not reached within ${ms} ms on ${t.role}`, what, last);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const final = (r: JudithRun) => r.state !== "running";

async function vikunja(t: Target, server: string, tool: string, params: Record<string, unknown>): Promise<RemoteCallResult> {
  return t.control.call({ target: `smcp://${server}/vikunja`, tool, params: params as never });
}

async function bobTitles(ctx: CheckContext, title: string): Promise<number> {
  const b = known(ctx, "bob");
  return tasksOf(await vikunja(b, b.name, "list_tasks", {}), "list_tasks on bob").filter((x) => x.title === title).length;
}

function createOn(server: string, title: unknown): JudithWorkflow["steps"][number]["call"] {
  return { target: `smcp://${server}/vikunja`, tool: "create_task", params: { title } };
}

const base = { level: "MUST" as const, profile: "judith" as const };
const PRE = ["judith/setup/channel"];

const setup: Check = {
  ...base,
  id: "judith/setup/channel",
  name: "both instances list judith among their components; bob hubs the handoff channel and alice joins it",
  requirements: ["JDT-01"],
  prerequisites: ["sc/discovery/alice-finds-bob", "sc/discovery/bob-finds-alice"],
  async run(ctx) {
    for (const role of ["alice", "bob"] as const) {
      const info = await known(ctx, role).control.instance();
      ensure(info.components.includes("judith"), `${role} does not list judith in its components (JDT-01)`, "judith among components", info.components);
    }
    const b = known(ctx, "bob");
    const ch = (await b.control.createChannel(`judith-${ctx.runId}`)).channel;
    const outcome = await b.control.invite(ch, known(ctx, "alice").name);
    ensure(outcome.accepted, "alice did not accept bob's invite (CONF-10)", true, outcome);
    channels.set(ctx.runId, ch);
  },
};

/** The seed's example: a task completed on alice's vikunja becomes a follow-up task on bob's, the run visible on both. */
const crossInstance: Check = {
  ...base,
  id: "judith/run/cross-instance",
  name: "a workflow on alice completes a task on alice and creates its follow-up on bob exactly once; bob observes the run",
  requirements: ["JDT-02", "JDT-09", "JDT-11", "JDT-13", "JDT-14", "JDT-15", "JDT-23", "JDT-24", "JDT-25", "JDT-27", "JDT-28"],
  prerequisites: PRE,
  async run(ctx) {
    const a = known(ctx, "alice");
    const b = known(ctx, "bob");
    const ch = channelOf(ctx);
    const title = uid(ctx, "judith-task");
    const task = taskOf(await vikunja(a, a.name, "create_task", { title }), "create_task on alice");
    const wf: JudithWorkflow = {
      name: `followup-${ctx.runId}`.toLowerCase().replace(/[^a-z0-9_-]/g, "-").slice(0, 64), channel: ch,
      steps: [
        { id: "complete", call: { target: `smcp://${a.name}/vikunja`, tool: "complete_task", params: { id: { $from: "input.task_id" } } } },
        { id: "followup", call: createOn(b.name, { $concat: ["Follow-up: ", { $from: "complete.result.structuredContent.task.title" }] }) },
      ],
    };
    await define(a, wf);
    expectOk(await a.control.request("POST", WORKFLOWS, wf), "JudithWorkflow", "the same definition again (JDT-02: an idempotent repeat)", 201);
    const held = expectOk<{ workflows: JudithWorkflow[] }>(await a.control.request("GET", WORKFLOWS), "JudithWorkflowList", "GET workflows on alice");
    ensure(held.workflows.some((w) => w.name === wf.name), "the defined workflow is not listed", wf.name, held.workflows.map((w) => w.name));
    const runId = uid(ctx, "jrun").replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 64);
    const started = await startRun(a, wf.name, { task_id: task.id }, runId);
    ensure(started.run_id === runId && started.owner === a.name && started.role === "owner", "the started run is not alice's own", { run_id: runId, owner: a.name, role: "owner" }, started);
    const done = await awaitRun(a, runId, final, "the run finished", 20_000);
    ensure(done.state === "succeeded", "the run did not succeed", "succeeded", { state: done.state, error: done.error, steps: done.steps });
    const followTitle = `Follow-up: ${title}`;
    ensure((await bobTitles(ctx, followTitle)) === 1, "bob does not hold exactly one follow-up task", 1, await bobTitles(ctx, followTitle));
    const aliceTask = tasksOf(await vikunja(a, a.name, "list_tasks", {}), "list_tasks on alice").find((x) => x.id === task.id);
    ensure(aliceTask?.done === true, "the task on alice is not completed", true, aliceTask);
    // A start repeated with the same run_id is the same run (JDT-13): still one follow-up task.
    const again = expectOk<JudithRun>(await a.control.request("POST", RUNS, { workflow: wf.name, input: { task_id: task.id }, run_id: runId }), "JudithRun", "the start repeated", 201);
    ensure(again.run_id === runId, "a repeated start answered another run", runId, again.run_id);
    ensure((await bobTitles(ctx, followTitle)) === 1, "a repeated start ran the remote step again", 1, await bobTitles(ctx, followTitle));
    // bob sees the run through the channel (JDT-27, JDT-28).
    const seen = await awaitRun(b, runId, final, "bob observes the finished run", ctx.options.deliveryTimeoutMs + 5_000);
    ensure(seen.role === "observer" && seen.owner === a.name && seen.state === "succeeded" && seen.workflow === wf.name, "bob's view of the run differs", { role: "observer", owner: a.name, state: "succeeded", workflow: wf.name }, seen);
    ensure(seen.steps.map((s) => `${s.id}:${s.state}`).join() === "complete:succeeded,followup:succeeded", "bob's view of the steps differs", "complete:succeeded,followup:succeeded", seen.steps);
    const listed = expectOk<{ runs: JudithRun[] }>(await b.control.request("GET", RUNS), "JudithRunList", "GET runs on bob");
    ensure(listed.runs.some((r) => r.run_id === runId && r.owner === a.name), "bob's run list lacks the observed run", runId, listed.runs.map((r) => r.run_id));
    await checkEvents(ctx, ch, runId);
  },
};

/** The channel holds the run's judith: events from alice, each `data` valid (JDT-23). */
async function checkEvents(ctx: CheckContext, ch: string, runId: string): Promise<void> {
  const a = known(ctx, "alice");
  const events: Event[] = (await known(ctx, "bob").control.allEvents(ch)).filter((e) => e.type.startsWith("judith:") && (e.data as { run_id?: unknown }).run_id === runId);
  const schema: Record<string, string> = {
    "judith:run.started": "JudithRunStartedData", "judith:step.started": "JudithStepStartedData",
    "judith:step.finished": "JudithStepFinishedData", "judith:run.finished": "JudithRunFinishedData",
  };
  for (const e of events) {
    ensure(e.sender === a.name, "a judith: event of alice's run was sent by another server", a.name, e.sender);
    const issues = schema[e.type] ? validate(schema[e.type]!, e.data) : [{ path: "", message: `unknown type ${e.type}` }];
    ensure(issues.length === 0, `${e.type} data is invalid`, "valid data", issues);
  }
  const types = [...new Set(events.map((e) => e.type))];
  for (const t of Object.keys(schema)) ensure(types.includes(t), `no ${t} event for the run on the channel`, t, types);
  const finished = events.filter((e) => e.type === "judith:step.finished").map((e) => e.data as { step: string; output?: { result?: { structuredContent?: { task?: { title?: unknown } } } } });
  const follow = finished.find((d) => d.step === "followup");
  ensure(typeof follow?.output?.result?.structuredContent?.task?.title === "string", "judith:step.finished of the follow-up step does not carry its result (JDT-24)", "output.result with the created task", follow);
  ensure(events[0]?.type === "judith:run.started" && events.at(-1)?.type === "judith:run.finished", "the run's events are not framed by run.started and run.finished", "run.started … run.finished", events.map((e) => e.type));
}

const failingStep: Check = {
  ...base,
  id: "judith/run/failing-step",
  name: "a step whose tool fails ends the run failed, with JUDITH_TOOL_ERROR on the step and the run; no later step runs; bob sees the error",
  requirements: ["JDT-18", "JDT-29"],
  prerequisites: PRE,
  async run(ctx) {
    const a = known(ctx, "alice");
    const b = known(ctx, "bob");
    const title = uid(ctx, "never-created");
    const wf: JudithWorkflow = {
      name: `fails-${ctx.runId}`.toLowerCase().replace(/[^a-z0-9_-]/g, "-").slice(0, 64), channel: channelOf(ctx),
      steps: [
        { id: "bad", call: { target: `smcp://${b.name}/vikunja`, tool: "complete_task", params: { id: 2_000_000_000 } } },
        { id: "after", call: createOn(b.name, title) },
      ],
    };
    await define(a, wf);
    const run = await startRun(a, wf.name);
    const done = await awaitRun(a, run.run_id, final, "the run finished", 20_000);
    const steps = done.steps.map((s) => s.state).join();
    ensure(done.state === "failed" && steps === "failed,pending", "the run or its steps did not end as a failure", { state: "failed", steps: "failed,pending" }, { state: done.state, steps });
    const err = done.steps[0]!.error;
    ensure(err?.errcode === "JUDITH_TOOL_ERROR" && err.error.length > 0, "the failed step carries no JUDITH_TOOL_ERROR", "JUDITH_TOOL_ERROR", err);
    ensure(done.error?.errcode === "JUDITH_TOOL_ERROR", "the run's error is not the step's", "JUDITH_TOOL_ERROR", done.error);
    ensure((await bobTitles(ctx, title)) === 0, "a step after the failed one ran", 0, await bobTitles(ctx, title));
    const seen = await awaitRun(b, run.run_id, final, "bob observes the failure", ctx.options.deliveryTimeoutMs + 5_000);
    ensure(seen.state === "failed" && seen.steps[0]?.error?.errcode === "JUDITH_TOOL_ERROR", "bob does not see the failure with its error", "failed, JUDITH_TOOL_ERROR", seen);
  },
};

const stepTimeout: Check = {
  ...base,
  id: "judith/run/step-timeout",
  name: "a wait step with timeout_ms 1000 and no matching event ends timed_out with JUDITH_TIMEOUT, and the run with it",
  requirements: ["JDT-20"],
  prerequisites: PRE,
  async run(ctx) {
    const a = known(ctx, "alice");
    const wf: JudithWorkflow = {
      name: `times-out-${ctx.runId}`.toLowerCase().replace(/[^a-z0-9_-]/g, "-").slice(0, 64), channel: channelOf(ctx),
      steps: [{ id: "never", wait: { type: "conformance:never" }, timeout_ms: 1_000 }],
    };
    await define(a, wf);
    const run = await startRun(a, wf.name);
    const done = await awaitRun(a, run.run_id, final, "the run ended", 10_000);
    ensure(done.state === "timed_out" && done.steps[0]?.state === "timed_out" && done.steps[0]?.error?.errcode === "JUDITH_TIMEOUT", "the step did not time out", { state: "timed_out", step: "timed_out", errcode: "JUDITH_TIMEOUT" }, done);
    ensure((done.steps[0]!.finished_ts ?? 0) - (done.steps[0]!.started_ts ?? 0) >= 1_000, "the step ended before its timeout", ">= 1000 ms", done.steps[0]);
  },
};

const waitAndCancel: Check = {
  ...base,
  id: "judith/run/wait-and-cancel",
  name: "a wait step ends on bob's matching event; a run cancelled on alice ends cancelled with its step, no later step runs, bob may not cancel it",
  requirements: ["JDT-19", "JDT-21"],
  prerequisites: PRE,
  async run(ctx) {
    const a = known(ctx, "alice");
    const b = known(ctx, "bob");
    const ch = channelOf(ctx);
    const title = uid(ctx, "after-cancel");
    const wf: JudithWorkflow = {
      name: `wait-${ctx.runId}`.toLowerCase().replace(/[^a-z0-9_-]/g, "-").slice(0, 64), channel: ch,
      steps: [
        { id: "go", wait: { type: "conformance:go", match: { run: { $from: "run.run_id" } } }, timeout_ms: 600_000 },
        { id: "after", call: createOn(b.name, { $concat: [title, "-", { $from: "go.event.data.n" }] }) },
      ],
    };
    await define(a, wf);
    const first = await startRun(a, wf.name);
    await awaitRun(a, first.run_id, (r) => r.steps[0]?.state === "running", "the wait step running", 10_000);
    const publish = (data: Record<string, unknown>) => b.control.request("POST", `/control/v1/channels/${encodeURIComponent(ch)}/events`, { type: "conformance:go", data });
    expectOk(await publish({ run: "another-run", n: 1 }), "PublishResult", "a non-matching event");
    expectOk(await publish({ run: first.run_id, n: 2 }), "PublishResult", "the matching event");
    const done = await awaitRun(a, first.run_id, final, "the waiting run finished", 20_000);
    ensure(done.state === "succeeded", "the run did not succeed on the matching event", "succeeded", done);
    ensure((await bobTitles(ctx, `${title}-2`)) === 1 && (await bobTitles(ctx, `${title}-1`)) === 0, "the wait step took the wrong event", `one task ${title}-2`, "another count");

    const second = await startRun(a, wf.name);
    await awaitRun(a, second.run_id, (r) => r.steps[0]?.state === "running", "the wait step running", 10_000);
    await awaitRun(b, second.run_id, () => true, "bob observes the run", ctx.options.deliveryTimeoutMs + 5_000);
    expectError(await b.control.request("POST", `${runPath(second.run_id)}/cancel`), "SMCP_FORBIDDEN", "cancel on the observer (JDT-21)");
    const cancelled = expectOk<JudithRun>(await a.control.request("POST", `${runPath(second.run_id)}/cancel`), "JudithRun", "cancel on alice");
    const steps = cancelled.steps.map((s) => s.state).join();
    ensure(cancelled.state === "cancelled" && steps === "cancelled,pending", "the cancelled run or its steps are not cancelled", { state: "cancelled", steps: "cancelled,pending" }, { state: cancelled.state, steps });
    ensure(cancelled.steps[0]?.error?.errcode === "JUDITH_CANCELLED", "the cancelled step carries no JUDITH_CANCELLED", "JUDITH_CANCELLED", cancelled.steps[0]?.error);
    expectOk(await publish({ run: second.run_id, n: 3 }), "PublishResult", "the event the cancelled run waited for");
    await awaitRun(b, second.run_id, (r) => r.state === "cancelled", "bob observes the cancellation", ctx.options.deliveryTimeoutMs + 5_000);
    const after = expectOk<JudithRun>(await getRun(a, second.run_id), "JudithRun", "the cancelled run later");
    ensure(after.state === "cancelled" && (await bobTitles(ctx, `${title}-3`)) === 0, "the cancelled run went on", "cancelled, no task", { state: after.state });
  },
};

const bounds: Check = {
  ...base,
  id: "judith/bounds",
  name: "33 steps, a duplicate step ID, a forward reference, an unknown $ operator, an input over 16 384 bytes, unknown workflow and run: clear errors",
  requirements: ["JDT-03", "JDT-04", "JDT-05", "JDT-08", "JDT-11", "JDT-30"],
  prerequisites: PRE,
  async run(ctx) {
    const a = known(ctx, "alice");
    const b = known(ctx, "bob");
    const channel = channelOf(ctx);
    const name = `bounds-${ctx.runId}`.toLowerCase().replace(/[^a-z0-9_-]/g, "-").slice(0, 60);
    const step = (id: string) => ({ id, call: { target: `smcp://${b.name}/vikunja`, tool: "list_tasks", params: {} } });
    const refused = async (wf: unknown, what: string, errcode: "SMCP_INVALID", path?: string) => {
      const e = expectError(await a.control.request("POST", WORKFLOWS, wf), errcode, what);
      if (path !== undefined) ensure(e.details?.some((d) => d.path === path), `${what}: no details entry at ${path}`, path, e.details);
    };
    await refused({ name: `${name}-a`, channel, steps: Array.from({ length: 33 }, (_, i) => step(`s${i}`)) }, "33 steps (JDT-05)", "SMCP_INVALID");
    await refused({ name: `${name}-b`, channel, steps: [step("x"), step("x")] }, "a duplicate step ID (JDT-04)", "SMCP_INVALID", "/steps/1/id");
    await refused({ name: `${name}-c`, channel, steps: [{ ...step("x"), wait: { type: "a:b" } }] }, "a step with call and wait (JDT-03)", "SMCP_INVALID", "/steps/0");
    await refused({ name: `${name}-d`, channel, steps: [{ id: "x", call: createOn(b.name, { $from: "y.result" }) }, step("y")] }, "a reference to a later step (JDT-08)", "SMCP_INVALID", "/steps/0/call/params/title/$from");
    await refused({ name: `${name}-e`, channel, steps: [{ id: "x", call: createOn(b.name, { $eval: "1+1" }) }] }, "an unknown $ operator (JDT-08)", "SMCP_INVALID");
    await define(a, { name: `${name}-ok`, channel, steps: [step("x")] });
    expectError(await a.control.request("POST", RUNS, { workflow: `${name}-ok`, input: { pad: "x".repeat(16_400) } }), "SMCP_TOO_LARGE", "an input over 16 384 bytes (JDT-11)");
    expectError(await a.control.request("POST", RUNS, { workflow: `${name}-none` }), "SMCP_NOT_FOUND", "a run of an unknown workflow (JDT-11)");
    expectError(await getRun(a, "no-such-run-00"), "SMCP_NOT_FOUND", "an unknown run (JDT-30)");
  },
};

/** Durability: alice is killed after step 1 and while step 2 waits; after the restart step 1 is not run again. */
const resumeAfterRestart: Check = {
  ...base,
  id: "judith/dur/resume-after-restart",
  name: "alice killed mid-run (step 1 done on bob, step 2 waiting) resumes the run after its restart; each of bob's steps ran exactly once",
  requirements: ["JDT-17", "JDT-15"],
  prerequisites: PRE,
  restarts: ["alice"],
  async run(ctx) {
    const a = known(ctx, "alice");
    const b = known(ctx, "bob");
    const ch = channelOf(ctx);
    const t1 = uid(ctx, "before-kill");
    const t2 = uid(ctx, "after-kill");
    const wf: JudithWorkflow = {
      name: `resume-${ctx.runId}`.toLowerCase().replace(/[^a-z0-9_-]/g, "-").slice(0, 64), channel: ch,
      steps: [
        { id: "one", call: createOn(b.name, t1) },
        { id: "go", wait: { type: "conformance:resume", match: { run: { $from: "run.run_id" } } }, timeout_ms: 600_000 },
        { id: "two", call: createOn(b.name, t2) },
      ],
    };
    await define(a, wf);
    const run = await startRun(a, wf.name);
    await awaitRun(a, run.run_id, (r) => r.steps[1]?.state === "running", "step 1 done and step 2 waiting", 20_000);
    try {
      await a.restart!();
    } catch (err) {
      fail(`alice did not come back after SIGKILL and a restart: ${(err as Error).message}`, "alice answers again", "no answer");
    }
    const back = expectOk<JudithRun>(await getRun(a, run.run_id), "JudithRun", "the run after the restart");
    ensure(back.state === "running" && back.steps[0]?.state === "succeeded", "the run's state was not kept across the restart", { state: "running", one: "succeeded" }, back);
    expectOk(await b.control.request("POST", `/control/v1/channels/${encodeURIComponent(ch)}/events`, { type: "conformance:resume", data: { run: run.run_id } }), "PublishResult", "the event the run waits for");
    const done = await awaitRun(a, run.run_id, final, "the resumed run finished", 30_000);
    ensure(done.state === "succeeded", "the resumed run did not succeed", "succeeded", done);
    const counts = [await bobTitles(ctx, t1), await bobTitles(ctx, t2)];
    ensure(counts[0] === 1 && counts[1] === 1, "a step on bob ran other than exactly once across the restart", [1, 1], counts);
  },
};

export const judithChecks: Check[] = [setup, crossInstance, failingStep, stepTimeout, waitAndCancel, bounds];
export const judithDurabilityChecks: Check[] = [resumeAfterRestart];
