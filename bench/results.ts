// Benchmarks: the shape of bench/results.json (every SMCP component's figures), its writer and its shape check.
import { writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import type { Summary } from "./stats.ts";

export const RESULTS_SCHEMA = "smcp-bench/1";

/** A target and whether the measured figure met it (a miss is reported, never hidden). */
export interface TargetCheck {
  figure: string;
  target: string;
  value: number;
  pass: boolean;
}

export interface CallResult {
  how: string;
  warmup: number;
  loadavg_1m_before: number;
  /** Measured calls (and as many floor echoes, interleaved in blocks). */
  samples: number;
  errors: number;
  request_bytes: number;
  response_bytes: number;
  round_trip_ms: Summary;
  floor_ms: Summary;
  ratio_p50: number;
  ratio_p99: number;
  /** Server-side handler durations from the instances' request log lines (ms). */
  breakdown: {
    /** The same tool called through Bob's own control API (Roshumba's local path, no federation hop). */
    local_call_ms: Summary;
    alice_control_ms: Summary;
    bob_federation_ms: Summary;
  };
}

export interface FanoutScenario {
  participants: number;
  /** 1-based run number of this size. */
  run: number;
  events: number;
  published: number;
  timed_out: boolean;
  startup_s: number;
  publish_s: number;
  published_per_s: number;
  /** Events persisted on every participant, per second of the scenario (first publish → last participant done). */
  delivered_per_s: number;
  /** Event-member deliveries per second (delivered_per_s × participants). */
  deliveries_per_s: number;
  /** Events every participant holds at the end (below `published` only when the cap was hit). */
  delivered_all: number;
  /** Publish request sent → participant's long poll reports local_seq ≥ seq; one sample per event per participant. */
  latency_ms: Summary;
  /** Seconds until each participant was done: spread across participants. */
  participant_done_s: { min: number; max: number };
  hub_log: { queue_suspensions: number; failed_transactions: number };
  /** CPU seconds used from the first publish to the end (Linux /proc), and the wall seconds of that window. */
  cpu_s?: { wall: number; hub: number; participants: number; bench: number };
  /** 1-minute load average before the scenario: the machine is shared, a high figure means noisy neighbours. */
  loadavg_1m_before: number;
}

export interface FanoutResult {
  how: string;
  concurrency: number;
  cap_s: number;
  runs: number;
  /** Per size, over its runs: the spread of the headline figures. */
  by_size: Array<{
    participants: number;
    runs: number;
    delivered_per_s: Summary;
    published_per_s: Summary;
    latency_p99_ms: Summary;
    any_timed_out: boolean;
  }>;
  /** Every run of every size. */
  scenarios: FanoutScenario[];
}

export interface ConformanceRun {
  wall_ms: number;
  exit_code: number | null;
  summary?: { total: number; pass: number; fail: number };
}

export type ConformanceResult =
  | { status: "not run"; reason: string }
  | { status: "run"; command: string; runs: ConformanceRun[]; wall_ms: Summary };

export interface Skipped {
  status: "not run";
  reason: string;
}

export interface BenchResults {
  schema: typeof RESULTS_SCHEMA;
  generated_at: string;
  machine: { cpus: number; cpu_model: string; node: string; platform: string; total_mem_mb: number };
  options: { quick: boolean; only: string[] };
  sections: {
    call?: CallResult | Skipped;
    fanout?: FanoutResult | Skipped;
    /** Microseconds per operation. */
    crypto?: Record<string, Summary>;
    conformance?: ConformanceResult;
  };
  targets: TargetCheck[];
}

export function machineInfo(): BenchResults["machine"] {
  const c = cpus();
  return { cpus: c.length, cpu_model: c[0]?.model ?? "unknown", node: process.version, platform: `${process.platform}-${process.arch}`, total_mem_mb: Math.round(totalmem() / 2 ** 20) };
}

export function loadavg1(): number {
  return Math.round(loadavg()[0]! * 100) / 100;
}

export function writeResults(file: string, results: BenchResults): void {
  writeFileSync(file, JSON.stringify(results, null, 2) + "\n");
}

const SUMMARY_KEYS = ["runs", "p50", "p95", "p99", "max", "min", "mean"] as const;

/** Problems with a results document (empty when it has every promised field); used by the smoke test. */
export function resultsProblems(doc: unknown): string[] {
  const out: string[] = [];
  const d = doc as Partial<BenchResults> | null;
  if (!d || typeof d !== "object") return ["not an object"];
  if (d.schema !== RESULTS_SCHEMA) out.push(`schema is ${String(d.schema)}`);
  if (typeof d.generated_at !== "string" || Number.isNaN(Date.parse(d.generated_at))) out.push("generated_at is not a date");
  if (!d.machine || typeof d.machine.cpus !== "number") out.push("machine.cpus missing");
  if (!d.options || !Array.isArray(d.options.only)) out.push("options.only missing");
  if (!Array.isArray(d.targets)) out.push("targets missing");
  for (const t of d.targets ?? []) if (typeof t.pass !== "boolean" || typeof t.value !== "number") out.push(`target ${t.figure} malformed`);
  const s = d.sections ?? {};
  if (s.call && !isSkipped(s.call)) {
    summaryProblems("call.round_trip_ms", s.call.round_trip_ms, out);
    summaryProblems("call.floor_ms", s.call.floor_ms, out);
    for (const [k, v] of Object.entries(s.call.breakdown ?? {})) summaryProblems(`call.breakdown.${k}`, v, out);
    if (!s.call.breakdown) out.push("call.breakdown missing");
    for (const k of ["ratio_p50", "ratio_p99", "samples", "errors"] as const) if (typeof s.call[k] !== "number") out.push(`call.${k} missing`);
  }
  if (s.fanout && !isSkipped(s.fanout)) {
    if (!Array.isArray(s.fanout.scenarios) || s.fanout.scenarios.length === 0) out.push("fanout.scenarios empty");
    if (!Array.isArray(s.fanout.by_size) || s.fanout.by_size.length === 0) out.push("fanout.by_size empty");
    for (const b of s.fanout.by_size ?? []) summaryProblems(`fanout.by_size[${b.participants}].delivered_per_s`, b.delivered_per_s, out);
    for (const sc of s.fanout.scenarios ?? []) {
      summaryProblems(`fanout[${sc.participants}].latency_ms`, sc.latency_ms, out);
      for (const k of ["published_per_s", "delivered_per_s", "delivered_all", "published"] as const) {
        if (typeof sc[k] !== "number") out.push(`fanout[${sc.participants}].${k} missing`);
      }
    }
  }
  for (const [name, sum] of Object.entries(s.crypto ?? {})) summaryProblems(`crypto.${name}`, sum, out);
  if (s.conformance && s.conformance.status === "run") summaryProblems("conformance.wall_ms", s.conformance.wall_ms, out);
  if (s.conformance && s.conformance.status === "not run" && !s.conformance.reason) out.push("conformance not run without a reason");
  return out;
}

function summaryProblems(where: string, s: Summary | undefined, out: string[]): void {
  if (!s) {
    out.push(`${where} missing`);
    return;
  }
  for (const k of SUMMARY_KEYS) if (typeof s[k] !== "number") out.push(`${where}.${k} missing`);
  if (s.runs > 0 && !(s.min <= s.p50 && s.p50 <= s.p99 && s.p99 <= s.max)) out.push(`${where} is not ordered min ≤ p50 ≤ p99 ≤ max`);
}

export function isSkipped(x: object): x is Skipped {
  return (x as Skipped).status === "not run";
}
