// Benchmarks: the shape of bench/results.json (every SMCP component's figures), its writer and its shape check.
import { writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import type { Summary } from "./stats.ts";

export const RESULTS_SCHEMA = "smcp-bench/2";

/** A target and whether the measured figure met it (a miss is reported, never hidden). */
export interface TargetCheck {
  figure: string;
  target: string;
  value: number;
  pass: boolean;
}

/** A ratio of two summaries, at the median and at the 99th percentile. */
export interface Ratio {
  p50: number;
  p99: number;
}

export interface CallResult {
  how: string;
  warmup: number;
  loadavg_1m_before: number;
  /** Measured samples of each probe (interleaved in blocks). */
  samples: number;
  /** Non-200 answers over all probes. */
  errors: number;
  request_bytes: number;
  response_bytes: number;
  /** Client → Alice → signed hop → Bob → vikunja → back. */
  federated_ms: Summary;
  /** The same tool through Bob's own control API (Roshumba's local path, no federation hop). */
  local_ms: Summary;
  federated_vs_local: Ratio;
  /** One hop on the reference HTTP edge (bench/hop-server.ts), signed and unsigned, same body. */
  hop_signed_ms: Summary;
  hop_unsigned_ms: Summary;
  hop_request_bytes: number;
  signed_vs_unsigned: Ratio;
  /** Server-side handler durations from the instances' request log lines (ms; the log is rate-limited per address). */
  breakdown: {
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
  /** The same in µs: hub per published event, participants per delivered event (event × participant). */
  cpu_us?: { hub_per_event: number; participant_per_delivery: number };
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
    /** Over the runs of this size (from /proc CPU accounting). */
    hub_us_per_event: Summary;
    participant_us_per_delivery: Summary;
    any_timed_out: boolean;
  }>;
  /** Hub CPU per event ≈ fixed + per_destination × participants (least squares over the sizes' medians). */
  hub_cpu_model: { fixed_us_per_event: number; per_destination_us: number; points: Array<{ participants: number; us: number }> } | null;
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
    for (const k of ["federated_ms", "local_ms", "hop_signed_ms", "hop_unsigned_ms"] as const) summaryProblems(`call.${k}`, s.call[k], out);
    for (const k of ["federated_vs_local", "signed_vs_unsigned"] as const) {
      if (typeof s.call[k]?.p50 !== "number" || typeof s.call[k]?.p99 !== "number") out.push(`call.${k} missing`);
    }
    for (const [k, v] of Object.entries(s.call.breakdown ?? {})) summaryProblems(`call.breakdown.${k}`, v, out);
    if (!s.call.breakdown) out.push("call.breakdown missing");
    for (const k of ["samples", "errors"] as const) if (typeof s.call[k] !== "number") out.push(`call.${k} missing`);
  }
  if (s.fanout && !isSkipped(s.fanout)) {
    if (!Array.isArray(s.fanout.scenarios) || s.fanout.scenarios.length === 0) out.push("fanout.scenarios empty");
    if (!Array.isArray(s.fanout.by_size) || s.fanout.by_size.length === 0) out.push("fanout.by_size empty");
    for (const b of s.fanout.by_size ?? []) {
      for (const k of ["delivered_per_s", "hub_us_per_event", "participant_us_per_delivery"] as const) summaryProblems(`fanout.by_size[${b.participants}].${k}`, b[k], out);
    }
    const model = s.fanout.hub_cpu_model;
    if (model === undefined) out.push("fanout.hub_cpu_model missing");
    else if (model !== null && (typeof model.fixed_us_per_event !== "number" || typeof model.per_destination_us !== "number")) out.push("fanout.hub_cpu_model malformed");
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
