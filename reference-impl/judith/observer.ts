// Judith (spec §18.1.4): the observer side of the handoff — runs of other owners, rebuilt from the `judith:` events of
// every channel this instance holds. Pulled when the Control API reads runs (no background work); duplicates are harmless.
import { validate } from "../../protocol/schemas.ts";
import type {
  ChannelInfo, Event, EventList, JudithRun, JudithRunFinishedData, JudithRunStartedData, JudithStepFinishedData, JudithStepStartedData,
} from "../../protocol/types.ts";
import { JUDITH_LIMITS } from "./limits.ts";
import type { JudithStore } from "./store.ts";

export interface ObserverServices {
  channels(): ChannelInfo[];
  read(channel: string, after: number, limit: number, waitMs: number): Promise<EventList>;
}

const SCHEMA: Record<string, string> = {
  "judith:run.started": "JudithRunStartedData",
  "judith:run.finished": "JudithRunFinishedData",
  "judith:step.started": "JudithStepStartedData",
  "judith:step.finished": "JudithStepFinishedData",
};
const FINAL: ReadonlySet<string> = new Set(["succeeded", "failed", "cancelled", "timed_out"]);

export class Observer {
  private pending: Promise<void> = Promise.resolve();

  constructor(private readonly self: string, private readonly store: JudithStore, private readonly services: ObserverServices) {}

  /** Applies every event stored since the last catch-up; concurrent callers wait for the same pass. */
  catchUp(): Promise<void> {
    this.pending = this.pending.then(() => this.pass(), () => this.pass());
    return this.pending;
  }

  private async pass(): Promise<void> {
    for (const ch of this.services.channels()) {
      let after = this.store.cursor(ch.channel);
      while (after < ch.local_seq) {
        const page = await this.services.read(ch.channel, after, 1000, 0);
        if (page.events.length === 0) break;
        this.store.tx(() => {
          for (const e of page.events) this.apply(e);
          after = page.events.at(-1)!.seq;
          this.store.setCursor(ch.channel, after);
        });
      }
    }
  }

  /** One event: the run's owner is the event's sender as the hub attests it (JDT-28); a malformed one is ignored. */
  private apply(e: Event): void {
    const schema = SCHEMA[e.type];
    if (!schema || e.sender === this.self || validate(schema, e.data).length > 0) return;
    if (e.type === "judith:run.started") return this.started(e, e.data as unknown as JudithRunStartedData);
    const data = e.data as unknown as { run_id: string };
    const run = this.store.observed(e.sender, data.run_id);
    if (!run || run.channel !== e.channel) return;
    run.updated_ts = Math.max(run.updated_ts, e.hub_ts);
    if (e.type === "judith:run.finished") {
      const d = e.data as unknown as JudithRunFinishedData;
      run.state = d.state;
      if (d.error) run.error = d.error;
    } else {
      const d = e.data as unknown as JudithStepStartedData | JudithStepFinishedData;
      const step = run.steps.find((s) => s.id === d.step);
      if (!step) return;
      if (e.type === "judith:step.started" && !FINAL.has(step.state)) {
        const s = d as JudithStepStartedData;
        step.state = "running";
        step.started_ts = e.hub_ts;
        if (s.call_id) step.call_id = s.call_id;
        if (s.target) step.target = s.target;
      } else if (e.type === "judith:step.finished") {
        const f = d as JudithStepFinishedData;
        step.state = f.state;
        step.finished_ts = e.hub_ts;
        if (f.output) step.output = f.output;
        if (f.error) step.error = f.error;
      }
    }
    this.store.putObserved(run, JUDITH_LIMITS.maxObservedRuns);
  }

  private started(e: Event, d: JudithRunStartedData): void {
    if (this.store.observed(e.sender, d.run_id)) return;
    const run: JudithRun = {
      run_id: d.run_id, workflow: d.workflow, owner: e.sender, role: "observer", channel: e.channel, state: "running",
      created_ts: e.hub_ts, updated_ts: e.hub_ts,
      steps: d.steps.map((s) => ({ id: s.id, kind: s.kind, state: "pending" as const, ...(s.target ? { target: s.target } : {}) })),
    };
    this.store.putObserved(run, JUDITH_LIMITS.maxObservedRuns);
  }
}
