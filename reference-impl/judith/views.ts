// Judith (spec §18.1.4): a run as the Control API shows it, from the owner's rows, and the `data` of `judith:` events.
import type { JudithError, JudithRun, JudithStepStatus, JudithWorkflow } from "../../protocol/types.ts";
import type { RunRow, StepRow } from "./store.ts";

const parse = <T>(text: string | null): T | undefined => (text === null ? undefined : (JSON.parse(text) as T));

export function stepView(s: StepRow): JudithStepStatus {
  const v: JudithStepStatus = { id: s.step_id, kind: s.kind, state: s.state };
  if (s.call_id !== null) v.call_id = s.call_id;
  if (s.target !== null) v.target = s.target;
  if (s.started_ts !== null) v.started_ts = s.started_ts;
  if (s.finished_ts !== null) v.finished_ts = s.finished_ts;
  const output = parse<Record<string, unknown>>(s.output);
  if (output !== undefined) v.output = output;
  const error = parse<JudithError>(s.error);
  if (error !== undefined) v.error = error;
  return v;
}

export function runView(self: string, r: RunRow, steps: StepRow[]): JudithRun {
  const def = JSON.parse(r.definition) as JudithWorkflow;
  const v: JudithRun = {
    run_id: r.run_id, workflow: r.workflow, owner: self, role: "owner", channel: def.channel, state: r.state,
    created_ts: r.created_ts, updated_ts: r.updated_ts, steps: steps.map(stepView),
  };
  const error = parse<JudithError>(r.error);
  if (error !== undefined) v.error = error;
  return v;
}

/** The steps as `judith:run.started` announces them: ID, kind, and a call step's target. */
export function stepRefs(def: JudithWorkflow): Array<{ id: string; kind: "call" | "wait"; target?: string }> {
  return def.steps.map((s) => (s.call ? { id: s.id, kind: "call" as const, target: s.call.target } : { id: s.id, kind: "wait" as const }));
}

/** An error of the spec's format (§13), its text clamped to the schema's 4 096 characters. */
export function judithError(errcode: JudithError["errcode"], message: string): JudithError {
  return { errcode, error: message.length > 4096 ? `${message.slice(0, 4093)}...` : message };
}
