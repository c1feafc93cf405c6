// Judith (spec §18.1.3): durable state — workflows, owned runs and their steps, the event outbox, observed runs and
// channel read cursors. The tables are a storage migration (reference-impl/storage/db.ts, the last entry).
import type Database from "better-sqlite3";
import type { JudithError, JudithRun, JudithWorkflow } from "../../protocol/types.ts";

export type RunState = JudithRun["state"];
export type StepState = JudithRun["steps"][number]["state"];
export const FINAL_RUN_STATES: ReadonlySet<string> = new Set(["succeeded", "failed", "cancelled", "timed_out"]);

export interface RunRow {
  run_id: string;
  workflow: string;
  definition: string;
  request_sha256: string;
  input: string;
  state: RunState;
  error: string | null;
  deadline_ts: number;
  created_ts: number;
  updated_ts: number;
}

export interface StepRow {
  run_id: string;
  idx: number;
  step_id: string;
  kind: "call" | "wait";
  state: StepState;
  call_id: string | null;
  target: string | null;
  /** Call steps: the CallTool sent, byte for byte the same on every attempt (CALL-15). Wait steps: the resolved match. */
  request: string | null;
  after_seq: number | null;
  deadline_ts: number | null;
  started_ts: number | null;
  finished_ts: number | null;
  output: string | null;
  error: string | null;
}

export interface OutboxRow {
  id: number;
  channel: string;
  type: string;
  data: string;
}

export class JudithStore {
  constructor(private readonly db: Database.Database) {}

  tx<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // ------------------------------------------------------------ workflows

  workflow(name: string): JudithWorkflow | undefined {
    const row = this.db.prepare("SELECT json FROM judith_workflows WHERE name = ?").get(name) as { json: string } | undefined;
    return row ? (JSON.parse(row.json) as JudithWorkflow) : undefined;
  }

  workflows(): JudithWorkflow[] {
    return (this.db.prepare("SELECT json FROM judith_workflows ORDER BY name").all() as Array<{ json: string }>).map((r) => JSON.parse(r.json) as JudithWorkflow);
  }

  workflowCount(): number {
    return (this.db.prepare("SELECT count(*) AS n FROM judith_workflows").get() as { n: number }).n;
  }

  putWorkflow(wf: JudithWorkflow, now: number): void {
    this.db.prepare("INSERT INTO judith_workflows (name, json, created_ts) VALUES (?, ?, ?)").run(wf.name, JSON.stringify(wf), now);
  }

  // ------------------------------------------------------------ runs and steps

  run(runId: string): RunRow | undefined {
    return this.db.prepare("SELECT * FROM judith_runs WHERE run_id = ?").get(runId) as RunRow | undefined;
  }

  runs(limit: number): RunRow[] {
    return this.db.prepare("SELECT * FROM judith_runs ORDER BY created_ts DESC, run_id LIMIT ?").all(limit) as RunRow[];
  }

  runIdsInState(state: RunState): string[] {
    return (this.db.prepare("SELECT run_id FROM judith_runs WHERE state = ? ORDER BY created_ts").all(state) as Array<{ run_id: string }>).map((r) => r.run_id);
  }

  countInState(state: RunState): number {
    return (this.db.prepare("SELECT count(*) AS n FROM judith_runs WHERE state = ?").get(state) as { n: number }).n;
  }

  insertRun(row: RunRow, steps: StepRow[]): void {
    this.db.prepare(
      `INSERT INTO judith_runs (run_id, workflow, definition, request_sha256, input, state, error, deadline_ts, created_ts, updated_ts)
       VALUES (@run_id, @workflow, @definition, @request_sha256, @input, @state, @error, @deadline_ts, @created_ts, @updated_ts)`,
    ).run(row);
    const ins = this.db.prepare(
      `INSERT INTO judith_steps (run_id, idx, step_id, kind, state, call_id, target, request, after_seq, deadline_ts, started_ts, finished_ts, output, error)
       VALUES (@run_id, @idx, @step_id, @kind, @state, @call_id, @target, @request, @after_seq, @deadline_ts, @started_ts, @finished_ts, @output, @error)`,
    );
    for (const s of steps) ins.run(s);
  }

  steps(runId: string): StepRow[] {
    return this.db.prepare("SELECT * FROM judith_steps WHERE run_id = ? ORDER BY idx").all(runId) as StepRow[];
  }

  finishRun(runId: string, state: RunState, error: JudithError | undefined, now: number): void {
    this.db.prepare("UPDATE judith_runs SET state = ?, error = ?, updated_ts = ? WHERE run_id = ?").run(state, error ? JSON.stringify(error) : null, now, runId);
  }

  touchRun(runId: string, now: number): void {
    this.db.prepare("UPDATE judith_runs SET updated_ts = ? WHERE run_id = ?").run(now, runId);
  }

  startStep(runId: string, idx: number, fields: Pick<StepRow, "call_id" | "target" | "request" | "after_seq" | "deadline_ts" | "started_ts">): void {
    this.db.prepare(
      `UPDATE judith_steps SET state = 'running', call_id = @call_id, target = @target, request = @request, after_seq = @after_seq,
       deadline_ts = @deadline_ts, started_ts = @started_ts WHERE run_id = @run_id AND idx = @idx`,
    ).run({ ...fields, run_id: runId, idx });
  }

  finishStep(runId: string, idx: number, state: StepState, output: unknown, error: JudithError | undefined, now: number): void {
    this.db.prepare("UPDATE judith_steps SET state = ?, output = ?, error = ?, finished_ts = ? WHERE run_id = ? AND idx = ?").run(
      state, output === undefined ? null : JSON.stringify(output), error ? JSON.stringify(error) : null, now, runId, idx,
    );
  }

  /** Steps not yet final end with the run: `cancelled` or `timed_out` for the one running, the rest stay pending. */
  finishOpenSteps(runId: string, state: StepState, error: JudithError, now: number): number[] {
    const open = (this.db.prepare("SELECT idx FROM judith_steps WHERE run_id = ? AND state = 'running'").all(runId) as Array<{ idx: number }>).map((r) => r.idx);
    for (const idx of open) this.finishStep(runId, idx, state, undefined, error, now);
    return open;
  }

  /** Keeps at most `keep` finished runs, dropping the oldest (JDT-33). */
  pruneFinished(keep: number): number {
    const ids = (this.db.prepare(
      "SELECT run_id FROM judith_runs WHERE state != 'running' ORDER BY updated_ts DESC LIMIT -1 OFFSET ?",
    ).all(keep) as Array<{ run_id: string }>).map((r) => r.run_id);
    for (const id of ids) {
      this.db.prepare("DELETE FROM judith_steps WHERE run_id = ?").run(id);
      this.db.prepare("DELETE FROM judith_runs WHERE run_id = ?").run(id);
    }
    return ids.length;
  }

  // ------------------------------------------------------------ outbox

  enqueue(channel: string, type: string, data: Record<string, unknown>): void {
    this.db.prepare("INSERT INTO judith_outbox (channel, type, data) VALUES (?, ?, ?)").run(channel, type, JSON.stringify(data));
  }

  nextOutbox(): OutboxRow | undefined {
    return this.db.prepare("SELECT * FROM judith_outbox ORDER BY id LIMIT 1").get() as OutboxRow | undefined;
  }

  dropOutbox(id: number): void {
    this.db.prepare("DELETE FROM judith_outbox WHERE id = ?").run(id);
  }

  // ------------------------------------------------------------ observer

  observed(owner: string, runId: string): JudithRun | undefined {
    const row = this.db.prepare("SELECT json FROM judith_observed WHERE owner = ? AND run_id = ?").get(owner, runId) as { json: string } | undefined;
    return row ? (JSON.parse(row.json) as JudithRun) : undefined;
  }

  observedById(runId: string): JudithRun | undefined {
    const row = this.db.prepare("SELECT json FROM judith_observed WHERE run_id = ? ORDER BY updated_ts DESC LIMIT 1").get(runId) as { json: string } | undefined;
    return row ? (JSON.parse(row.json) as JudithRun) : undefined;
  }

  observedRuns(limit: number): JudithRun[] {
    return (this.db.prepare("SELECT json FROM judith_observed ORDER BY updated_ts DESC LIMIT ?").all(limit) as Array<{ json: string }>).map((r) => JSON.parse(r.json) as JudithRun);
  }

  putObserved(run: JudithRun, keep: number): void {
    this.db.prepare("INSERT OR REPLACE INTO judith_observed (owner, run_id, json, updated_ts) VALUES (?, ?, ?, ?)").run(run.owner, run.run_id, JSON.stringify(run), run.updated_ts);
    this.db.prepare(
      "DELETE FROM judith_observed WHERE (owner, run_id) IN (SELECT owner, run_id FROM judith_observed ORDER BY updated_ts DESC LIMIT -1 OFFSET ?)",
    ).run(keep);
  }

  cursor(channel: string): number {
    return (this.db.prepare("SELECT seq FROM judith_cursors WHERE channel = ?").get(channel) as { seq: number } | undefined)?.seq ?? 0;
  }

  setCursor(channel: string, seq: number): void {
    this.db.prepare("INSERT OR REPLACE INTO judith_cursors (channel, seq) VALUES (?, ?)").run(channel, seq);
  }
}
