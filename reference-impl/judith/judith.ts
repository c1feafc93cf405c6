// Judith (spec §18.1): cross-instance workflows on channels and calls — the component's facade for the Control API:
// define and list workflows, start, read, list and cancel runs; owned runs are driven here, others observed.
import type { Logger } from "pino";
import { canonicalBytes } from "../../protocol/canonical-json.ts";
import { SmcpError } from "../../protocol/errors.ts";
import { randomId } from "../../protocol/random-id.ts";
import { sha256Base64Url } from "../../protocol/signing.ts";
import type Database from "better-sqlite3";
import type { JudithRun, JudithStartRun, JudithWorkflow } from "../../protocol/types.ts";
import { checkDefinition } from "./definitions.ts";
import { RunEngine, type EngineServices } from "./engine.ts";
import { DEFAULT_RUN_TIMEOUT_MS, JUDITH_LIMITS } from "./limits.ts";
import { Observer, type ObserverServices } from "./observer.ts";
import { Outbox, type Publish } from "./outbox.ts";
import { JudithStore, type RunRow, type StepRow } from "./store.ts";
import { runView, stepRefs } from "./views.ts";

export interface JudithOptions {
  self: string;
  db: Database.Database;
  services: EngineServices & ObserverServices & { publish: Publish };
  now?: () => number;
  logger?: Logger;
  /** How often deadlines are checked against the clock (default 250 ms; 0: only when tick() is called). */
  tickMs?: number;
  /** Back-off between attempts of a call step whose peer is unreachable (default 250 ms doubling to 5 s). */
  retry?: { baseMs: number; maxMs: number };
}

export class Judith {
  private readonly store: JudithStore;
  private readonly engine: RunEngine;
  private readonly outbox: Outbox;
  private readonly observer: Observer;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: JudithOptions) {
    this.now = o.now ?? Date.now;
    this.store = new JudithStore(o.db);
    this.outbox = new Outbox(this.store, o.services.publish, o.logger);
    this.engine = new RunEngine({
      self: o.self, store: this.store, services: o.services, outbox: this.outbox, now: this.now, logger: o.logger,
      retry: o.retry ?? { baseMs: 250, maxMs: 5_000 },
    });
    this.observer = new Observer(o.self, this.store, o.services);
  }

  /** Resumes the runs a stop interrupted, publishes what the outbox holds, and starts the deadline clock. */
  start(): void {
    const resumed = this.engine.resumeAll();
    if (resumed > 0) this.o.logger?.info({ resumed }, "judith runs resumed after a restart");
    void this.outbox.kick();
    const tickMs = this.o.tickMs ?? 250;
    if (tickMs > 0) {
      this.timer = setInterval(() => this.engine.tick(), tickMs);
      this.timer.unref();
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.engine.close();
    this.outbox.close();
  }

  /** Checks deadlines now (tests with an injected clock call it after moving the clock). */
  tick(): void {
    this.engine.tick();
  }

  // ------------------------------------------------------------ workflows (JDT-01..JDT-08)

  define(wf: JudithWorkflow): { created: boolean; workflow: JudithWorkflow } {
    checkDefinition(wf);
    const ch = this.o.services.channel(wf.channel);
    if (!ch.joined) throw new SmcpError("SMCP_NOT_MEMBER", `${this.o.self} is no longer a member of ${wf.channel}`);
    return this.store.tx(() => {
      const held = this.store.workflow(wf.name);
      if (held) {
        if (canonicalBytes(held).equals(canonicalBytes(wf))) return { created: false, workflow: held };
        throw new SmcpError("SMCP_CONFLICT", `workflow ${wf.name} is already defined differently`);
      }
      if (this.store.workflowCount() >= JUDITH_LIMITS.maxWorkflows) {
        throw new SmcpError("SMCP_TOO_LARGE", `this instance holds at most ${JUDITH_LIMITS.maxWorkflows} workflows`);
      }
      this.store.putWorkflow(wf, this.now());
      return { created: true, workflow: wf };
    });
  }

  workflows(): JudithWorkflow[] {
    return this.store.workflows();
  }

  // ------------------------------------------------------------ runs (JDT-10..JDT-20)

  startRun(req: JudithStartRun): { created: boolean; run: JudithRun } {
    const wf = this.store.workflow(req.workflow);
    if (!wf) throw new SmcpError("SMCP_NOT_FOUND", `no workflow named ${req.workflow}`);
    const input = req.input ?? {};
    const size = canonicalBytes(input).length;
    if (size > JUDITH_LIMITS.maxInputBytes) throw new SmcpError("SMCP_TOO_LARGE", `the run's input has ${size} canonical bytes; at most ${JUDITH_LIMITS.maxInputBytes} are accepted`);
    const requestSha = sha256Base64Url(canonicalBytes({ workflow: req.workflow, input }));
    const result = this.store.tx(() => {
      if (req.run_id !== undefined) {
        const held = this.store.run(req.run_id);
        if (held) {
          if (held.request_sha256 !== requestSha) throw new SmcpError("SMCP_CONFLICT", `run ${req.run_id} was started with another workflow or input`);
          return { created: false, runId: held.run_id };
        }
      }
      const inFlight = this.store.countInState("running");
      if (inFlight >= JUDITH_LIMITS.maxRunsInFlight) {
        throw new SmcpError("SMCP_RATE_LIMITED", `${inFlight} runs are in flight; at most ${JUDITH_LIMITS.maxRunsInFlight}`, { retryAfterMs: 1_000 });
      }
      const runId = req.run_id ?? randomId(16);
      this.insertRun(runId, wf, input, requestSha);
      return { created: true, runId };
    });
    if (result.created) {
      this.store.pruneFinished(JUDITH_LIMITS.maxStoredRuns);
      void this.outbox.kick();
      this.engine.drive(result.runId);
    }
    return { created: result.created, run: this.ownView(result.runId)! };
  }

  private insertRun(runId: string, wf: JudithWorkflow, input: Record<string, unknown>, requestSha: string): void {
    const now = this.now();
    const row: RunRow = {
      run_id: runId, workflow: wf.name, definition: JSON.stringify(wf), request_sha256: requestSha, input: JSON.stringify(input),
      state: "running", error: null, deadline_ts: now + (wf.timeout_ms ?? DEFAULT_RUN_TIMEOUT_MS), created_ts: now, updated_ts: now,
    };
    const steps: StepRow[] = wf.steps.map((s, idx) => ({
      run_id: runId, idx, step_id: s.id, kind: s.call ? "call" : "wait", state: "pending", call_id: null, target: null, request: null,
      after_seq: null, deadline_ts: null, started_ts: null, finished_ts: null, output: null, error: null,
    }));
    this.store.insertRun(row, steps);
    this.store.enqueue(wf.channel, "judith:run.started", { run_id: runId, workflow: wf.name, steps: stepRefs(wf) });
  }

  /** A run owned here, or one observed through a channel (JDT-27). */
  async run(runId: string): Promise<JudithRun> {
    const own = this.ownView(runId);
    if (own) return own;
    await this.observer.catchUp();
    const seen = this.store.observedById(runId);
    if (!seen) throw new SmcpError("SMCP_NOT_FOUND", `no run ${runId} is owned or observed here`);
    return seen;
  }

  async runs(limit: number): Promise<JudithRun[]> {
    await this.observer.catchUp();
    const own = this.store.runs(limit).map((r) => runView(this.o.self, r, this.store.steps(r.run_id)));
    return [...own, ...this.store.observedRuns(limit)].sort((a, b) => b.created_ts - a.created_ts || (a.run_id < b.run_id ? -1 : 1)).slice(0, limit);
  }

  /** Cancels a run owned here; a finished run is answered as it is (JDT-19). */
  async cancel(runId: string): Promise<JudithRun> {
    if (!this.store.run(runId)) {
      const seen = await this.run(runId);
      throw new SmcpError("SMCP_FORBIDDEN", `run ${runId} is owned by ${seen.owner}; only its owner cancels it`);
    }
    this.engine.cancel(runId);
    return this.ownView(runId)!;
  }

  private ownView(runId: string): JudithRun | undefined {
    const row = this.store.run(runId);
    return row ? runView(this.o.self, row, this.store.steps(row.run_id)) : undefined;
  }
}
