// Judith (spec §18.1.3): drives owned runs step by step — call steps through Roshumba under a deterministic call_id,
// wait steps on the channel's events — with per-step and per-run timeouts, cancellation, and resumption after a restart.
import type { Logger } from "pino";
import { backoffDelay, type BackoffSchedule } from "../../protocol/backoff.ts";
import { canonicalBytes } from "../../protocol/canonical-json.ts";
import { SmcpError } from "../../protocol/errors.ts";
import type { CallTool, ChannelInfo, Event, EventList, JudithError, JudithStep, JudithWorkflow, RemoteCallResult } from "../../protocol/types.ts";
import { stepCallId } from "./call-id.ts";
import { CALL_ATTEMPT_MAX_MS, DEFAULT_STEP_TIMEOUT_MS, JUDITH_LIMITS } from "./limits.ts";
import type { Outbox } from "./outbox.ts";
import { BadReference, lookup, resolveReferences, type Scope } from "./references.ts";
import type { JudithStore, RunRow, StepRow, StepState } from "./store.ts";
import { judithError } from "./views.ts";

/** What the engine needs of Roshumba and Naomi: their public facades only. */
export interface EngineServices {
  callTool(req: CallTool): Promise<RemoteCallResult>;
  channel(channel: string): ChannelInfo;
  read(channel: string, after: number, limit: number, waitMs: number, signal?: AbortSignal): Promise<EventList>;
}

export interface EngineOptions {
  self: string;
  store: JudithStore;
  services: EngineServices;
  outbox: Outbox;
  now: () => number;
  retry: BackoffSchedule;
  logger?: Logger;
}

type Outcome = { state: "succeeded"; output: Record<string, unknown> } | { state: Exclude<StepState, "pending" | "running" | "succeeded">; error: JudithError; output?: Record<string, unknown> };
type AbortReason = "cancel" | "step-timeout" | "run-timeout" | "shutdown";

/** Errors after which the same call, under the same call_id, may still succeed: the step retries until its deadline. */
const RETRYABLE: ReadonlySet<string> = new Set(["SMCP_PEER_UNREACHABLE", "SMCP_RATE_LIMITED", "SMCP_CALL_TIMEOUT"]);
const WAIT_POLL_MS = 25_000;

interface Active {
  ctl: AbortController;
  reason?: AbortReason;
}

export class RunEngine {
  private readonly active = new Map<string, Active>();
  private closed = false;

  constructor(private readonly o: EngineOptions) {}

  /** Drives a run unless it is driven already. */
  drive(runId: string): void {
    if (this.closed || this.active.has(runId)) return;
    const a: Active = { ctl: new AbortController() };
    this.active.set(runId, a);
    void this.loop(runId, a)
      .catch((err) => this.o.logger?.error({ err, run_id: runId }, "judith run driver failed"))
      .finally(() => this.active.delete(runId));
  }

  /** Restart: every run still `running` is picked up where its rows say it was (JDT-17). */
  resumeAll(): number {
    const ids = this.o.store.runIdsInState("running");
    for (const id of ids) this.drive(id);
    return ids.length;
  }

  /** Checks the deadlines of the runs in flight against the (injectable) clock (JDT-13). */
  tick(): void {
    const now = this.o.now();
    for (const [runId, a] of this.active) {
      const run = this.o.store.run(runId);
      if (!run || run.state !== "running") continue;
      if (now >= run.deadline_ts) this.abort(a, "run-timeout");
      else if (this.o.store.steps(runId).some((s) => s.state === "running" && s.deadline_ts !== null && now >= s.deadline_ts)) this.abort(a, "step-timeout");
    }
  }

  /** Stops driving (the instance closes): runs stay `running` and resume at the next start. */
  close(): void {
    this.closed = true;
    for (const a of this.active.values()) this.abort(a, "shutdown");
  }

  /** Ends a running run as cancelled, with the step in flight (JDT-19); its driver stops at once. */
  cancel(runId: string): void {
    const now = this.o.now();
    const error = judithError("JUDITH_CANCELLED", "the run was cancelled through the control API");
    const ended = this.o.store.tx(() => {
      const run = this.o.store.run(runId);
      if (!run || run.state !== "running") return false;
      this.closeRun(run, "cancelled", error, "cancelled", now);
      return true;
    });
    const a = this.active.get(runId);
    if (a) this.abort(a, "cancel");
    if (ended) void this.o.outbox.kick();
  }

  private abort(a: Active, reason: AbortReason): void {
    if (a.ctl.signal.aborted) return;
    a.reason = reason;
    a.ctl.abort();
  }

  private async loop(runId: string, a: Active): Promise<void> {
    for (;;) {
      const run = this.o.store.run(runId);
      if (!run || run.state !== "running" || a.reason === "shutdown") return;
      if (this.o.now() >= run.deadline_ts) return this.timeoutRun(run);
      const steps = this.o.store.steps(runId);
      const step = steps.find((s) => s.state === "pending" || s.state === "running");
      if (!step) return this.endRun(run, "succeeded");
      const def = JSON.parse(run.definition) as JudithWorkflow;
      const spec = def.steps[step.idx]!;
      const started = step.state === "running" ? step : this.begin(run, def, spec, step, steps);
      if (!started) continue;
      const outcome = await this.execute(started, spec, def, a);
      if (outcome === "shutdown") return;
      this.settle(runId, started, outcome);
    }
  }

  /** Resolves the step's references and records it `running` with everything a retry must send again (JDT-15, JDT-16). */
  private begin(run: RunRow, def: JudithWorkflow, spec: JudithStep, step: StepRow, steps: StepRow[]): StepRow | undefined {
    const now = this.o.now();
    const timeout = spec.timeout_ms ?? DEFAULT_STEP_TIMEOUT_MS;
    let fields: Pick<StepRow, "call_id" | "target" | "request" | "after_seq" | "deadline_ts" | "started_ts">;
    try {
      const scope = scopeOf(this.o.self, run, steps);
      if (spec.call) {
        const callId = stepCallId(run.run_id, run.created_ts, step.idx, spec.id);
        const params = resolveReferences(spec.call.params, scope) as Record<string, unknown>;
        const req: CallTool = { target: spec.call.target, tool: spec.call.tool, params, call_id: callId, timeout_ms: Math.min(timeout, CALL_ATTEMPT_MAX_MS) };
        fields = { call_id: callId, target: spec.call.target, request: JSON.stringify(req), after_seq: null, deadline_ts: now + timeout, started_ts: now };
      } else {
        const match = resolveReferences(spec.wait!.match ?? {}, scope) as Record<string, unknown>;
        const after = this.o.services.channel(def.channel).local_seq;
        fields = { call_id: null, target: null, request: JSON.stringify(match), after_seq: after, deadline_ts: now + timeout, started_ts: now };
      }
    } catch (err) {
      const error = err instanceof BadReference ? judithError("JUDITH_BAD_REFERENCE", err.message)
        : err instanceof SmcpError ? judithError(err.errcode, err.message) : judithError("SMCP_INTERNAL", "the step's inputs could not be prepared");
      this.o.store.tx(() => {
        this.o.store.startStep(run.run_id, step.idx, { call_id: null, target: spec.call?.target ?? null, request: null, after_seq: null, deadline_ts: null, started_ts: now });
        this.finishStepAndMaybeRun(run.run_id, step, { state: "failed", error }, def.channel, now);
      });
      void this.o.outbox.kick();
      return undefined;
    }
    this.o.store.tx(() => {
      this.o.store.startStep(run.run_id, step.idx, fields);
      this.o.store.touchRun(run.run_id, now);
      const data: Record<string, unknown> = { run_id: run.run_id, step: spec.id };
      if (fields.call_id) data.call_id = fields.call_id;
      if (fields.target) data.target = fields.target;
      this.o.store.enqueue(def.channel, "judith:step.started", data);
    });
    void this.o.outbox.kick();
    return { ...step, ...fields, state: "running" };
  }

  private async execute(step: StepRow, spec: JudithStep, def: JudithWorkflow, a: Active): Promise<Outcome | "shutdown"> {
    try {
      return spec.call ? await this.callStep(step, a) : await this.waitStep(step, spec, def, a);
    } catch (err) {
      if (a.ctl.signal.aborted) return this.aborted(a, step);
      if (err instanceof SmcpError) return { state: "failed", error: judithError(err.errcode, err.message) };
      this.o.logger?.error({ err, run_id: step.run_id, step: step.step_id }, "judith step failed unexpectedly");
      return { state: "failed", error: judithError("SMCP_INTERNAL", "the step failed unexpectedly") };
    }
  }

  /** The same CallTool, byte for byte, on every attempt: after a retry or a restart the callee answers its recorded outcome. */
  private async callStep(step: StepRow, a: Active): Promise<Outcome | "shutdown"> {
    const req = JSON.parse(step.request!) as CallTool;
    for (let failures = 0; ; ) {
      try {
        const answer = await abortable(this.o.services.callTool(req), a.ctl.signal);
        if (answer.result.isError) {
          const text = answer.result.content.map((c) => { const t = (c as { text?: unknown }).text; return typeof t === "string" ? t : ""; }).join(" ").trim();
          return { state: "failed", error: judithError("JUDITH_TOOL_ERROR", `${req.tool} on ${req.target} failed: ${text || "isError"}`), output: { result: answer.result } };
        }
        return { state: "succeeded", output: { result: answer.result } };
      } catch (err) {
        if (a.ctl.signal.aborted) return this.aborted(a, step);
        if (!(err instanceof SmcpError) || !RETRYABLE.has(err.errcode)) throw err;
        failures += 1;
        const wait = Math.max(backoffDelay(failures, this.o.retry), Math.min(err.extra.retryAfterMs ?? 0, this.o.retry.maxMs));
        this.o.logger?.debug({ run_id: step.run_id, step: step.step_id, errcode: err.errcode, wait }, "judith call retried under the same call_id");
        await sleep(wait, a.ctl.signal);
        if (a.ctl.signal.aborted) return this.aborted(a, step);
      }
    }
  }

  /** The first event after the step began whose type and data match; the scan restarts from there after a restart. */
  private async waitStep(step: StepRow, spec: JudithStep, def: JudithWorkflow, a: Active): Promise<Outcome | "shutdown"> {
    const match = JSON.parse(step.request!) as Record<string, unknown>;
    let after = step.after_seq ?? 0;
    for (;;) {
      if (a.ctl.signal.aborted || this.closed) return this.aborted(a, step);
      const page = await this.o.services.read(def.channel, after, 100, WAIT_POLL_MS, a.ctl.signal);
      for (const e of page.events) {
        after = e.seq;
        if (e.type === spec.wait!.type && matches(e, match)) return { state: "succeeded", output: { event: e } };
      }
    }
  }

  private aborted(a: Active, step: StepRow): Outcome | "shutdown" {
    switch (a.reason) {
      case "cancel":
        return { state: "cancelled", error: judithError("JUDITH_CANCELLED", "the run was cancelled through the control API") };
      case "step-timeout":
        return { state: "timed_out", error: judithError("JUDITH_TIMEOUT", `step ${step.step_id} did not finish within its timeout`) };
      case "run-timeout":
        return { state: "timed_out", error: judithError("JUDITH_TIMEOUT", "the run did not finish within its timeout") };
      default:
        return "shutdown";
    }
  }

  /** Records the step's outcome; a step that did not succeed ends the run (JDT-18). A cancelled run is left as cancel() ended it. */
  private settle(runId: string, step: StepRow, outcome: Outcome): void {
    const now = this.o.now();
    this.o.store.tx(() => {
      const run = this.o.store.run(runId);
      if (!run || run.state !== "running") return;
      const def = JSON.parse(run.definition) as JudithWorkflow;
      if (outcome.state === "timed_out" && now >= run.deadline_ts) {
        this.closeRun(run, "timed_out", judithError("JUDITH_TIMEOUT", "the run did not finish within its timeout"), "timed_out", now);
        return;
      }
      this.finishStepAndMaybeRun(runId, step, outcome, def.channel, now);
    });
    void this.o.outbox.kick();
  }

  private finishStepAndMaybeRun(runId: string, step: StepRow, outcome: Outcome, channel: string, now: number): void {
    const error = outcome.state === "succeeded" ? undefined : outcome.error;
    this.o.store.finishStep(runId, step.idx, outcome.state, outcome.output, error, now);
    this.o.store.touchRun(runId, now);
    this.o.store.enqueue(channel, "judith:step.finished", stepFinishedData(runId, step.step_id, outcome.state, outcome.output, error));
    if (outcome.state === "succeeded") return;
    const runState = outcome.state === "failed" ? "failed" : outcome.state;
    this.o.store.finishRun(runId, runState, error, now);
    this.o.store.enqueue(channel, "judith:run.finished", { run_id: runId, state: runState, error });
  }

  private timeoutRun(run: RunRow): void {
    this.o.store.tx(() => this.closeRun(run, "timed_out", judithError("JUDITH_TIMEOUT", "the run did not finish within its timeout"), "timed_out", this.o.now()));
    void this.o.outbox.kick();
  }

  /** Ends the run and its step in flight in one transaction, with their events. */
  private closeRun(run: RunRow, state: "cancelled" | "timed_out", error: JudithError, stepState: StepState, now: number): void {
    const channel = (JSON.parse(run.definition) as JudithWorkflow).channel;
    const steps = this.o.store.steps(run.run_id);
    for (const idx of this.o.store.finishOpenSteps(run.run_id, stepState, error, now)) {
      this.o.store.enqueue(channel, "judith:step.finished", stepFinishedData(run.run_id, steps[idx]!.step_id, stepState, undefined, error));
    }
    this.o.store.finishRun(run.run_id, state, error, now);
    this.o.store.enqueue(channel, "judith:run.finished", { run_id: run.run_id, state, error });
  }

  private endRun(run: RunRow, state: "succeeded"): void {
    const channel = (JSON.parse(run.definition) as JudithWorkflow).channel;
    this.o.store.tx(() => {
      this.o.store.finishRun(run.run_id, state, undefined, this.o.now());
      this.o.store.enqueue(channel, "judith:run.finished", { run_id: run.run_id, state });
    });
    void this.o.outbox.kick();
  }
}

/** `input`, `run` and the outputs of the steps that succeeded so far (spec §18.1.2). */
function scopeOf(self: string, run: RunRow, steps: StepRow[]): Scope {
  const scope = new Map<string, unknown>([
    ["input", JSON.parse(run.input)],
    ["run", { run_id: run.run_id, workflow: run.workflow, owner: self }],
  ]);
  for (const s of steps) if (s.state === "succeeded" && s.output !== null) scope.set(s.step_id, JSON.parse(s.output));
  return scope;
}

/** Every dotted path of `match` names a member of the event's data equal (canonical JSON) to its value. */
export function matches(e: Event, match: Record<string, unknown>): boolean {
  const scope = new Map<string, unknown>([["data", e.data]]);
  return Object.entries(match).every(([path, want]) => {
    try {
      return canonicalBytes(lookup(`data.${path}`, scope)).equals(canonicalBytes(want));
    } catch {
      return false;
    }
  });
}

function stepFinishedData(runId: string, step: string, state: StepState, output: Record<string, unknown> | undefined, error: JudithError | undefined): Record<string, unknown> {
  const data: Record<string, unknown> = { run_id: runId, step, state };
  if (output !== undefined && canonicalBytes(output).length <= JUDITH_LIMITS.maxEventOutputBytes) data.output = output;
  if (error !== undefined) data.error = error;
  return data;
}

function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error("aborted"));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error("aborted"));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
