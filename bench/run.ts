// Benchmarks: `npm run bench` — runs every SMCP figure (Roshumba calls, Naomi fan-out, crypto costs, conformance
// wall time) against real instances on loopback, prints the tables and writes bench/results.json.
import { parseArgs } from "node:util";
import { join } from "node:path";
import { benchCall } from "./call.ts";
import { benchConformance } from "./conformance.ts";
import { cryptoCosts } from "./crypto.ts";
import { benchFanout } from "./fanout.ts";
import { REPO } from "./instances.ts";
import { isSkipped, machineInfo, RESULTS_SCHEMA, writeResults, type BenchResults, type TargetCheck } from "./results.ts";
import { fmt, type Summary } from "./stats.ts";

const SECTIONS = ["call", "fanout", "crypto", "conformance"] as const;
type Section = (typeof SECTIONS)[number];

/** Issue 16's floors: each figure is compared with what the protocol's own work should cost on top of its control. */
const TARGETS = {
  callP99Ms: 10,
  /** Federated call ÷ the same tool called locally, at p50 and at p99. */
  federatedVsLocal: 1.5,
  /** Signed hop ÷ unsigned hop on the same edge, at p50. */
  signedVsUnsigned: 1.3,
  hubFixedUs: 60,
  hubPerDestinationUs: 10,
  participantUs: 25,
  /** Events/s delivered durably to every participant, by participant count. */
  deliveredPerS: [[5, 6_000], [20, 2_000]] as ReadonlyArray<readonly [number, number]>,
  conformanceS: 15,
} as const;

const USAGE = `usage: npm run bench -- [--quick] [--only call,fanout,crypto,conformance] [--out FILE]
       [--calls N] [--events N] [--sizes 1,5,20] [--fanout-runs N]`;

interface Plan {
  quick: boolean;
  only: Section[];
  out: string;
  calls: { warmup: number; samples: number; block: number };
  fanout: { sizes: number[]; events: number; concurrency: number; capMs: number; runs: number };
  conformance: { runs: number; repeatBelowMs: number; timeoutMs: number };
}

const FLAGS = {
  quick: { type: "boolean" }, only: { type: "string" }, out: { type: "string" }, calls: { type: "string" },
  events: { type: "string" }, sizes: { type: "string" }, "fanout-runs": { type: "string" }, help: { type: "boolean", short: "h" },
} as const;

function flags(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: FLAGS }).values;
  } catch (err) {
    return usage((err as Error).message);
  }
}

function plan(argv: string[]): Plan {
  const values = flags(argv);
  if (values.help) {
    process.stdout.write(USAGE + "\n");
    process.exit(0);
  }
  const only = (values.only ?? SECTIONS.join(",")).split(",").map((s) => s.trim()).filter(Boolean);
  for (const s of only) if (!(SECTIONS as readonly string[]).includes(s)) usage(`unknown section ${s}`);
  const quick = values.quick === true;
  const samples = positive(values.calls, quick ? 100 : 2_000, "--calls");
  return {
    quick, only: only as Section[], out: values.out ?? join(REPO, "bench/results.json"),
    calls: { warmup: quick ? Math.min(20, samples) : 200, samples, block: Math.min(100, samples) },
    fanout: {
      sizes: values.sizes ? values.sizes.split(",").map((s) => positive(s, 1, "--sizes")) : quick ? [1, 5] : [1, 5, 20],
      events: positive(values.events, quick ? 500 : 10_000, "--events"), concurrency: 16, capMs: 60_000,
      runs: positive(values["fanout-runs"], quick ? 1 : 3, "--fanout-runs"),
    },
    conformance: { runs: quick ? 1 : 3, repeatBelowMs: 120_000, timeoutMs: 600_000 },
  };
}

function positive(text: string | undefined, fallback: number, flag: string): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) usage(`${flag} wants a positive integer, got ${text}`);
  return n;
}

function usage(message: string): never {
  process.stderr.write(`bench: ${message}\n${USAGE}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const p = plan(process.argv.slice(2));
  const results: BenchResults = {
    schema: RESULTS_SCHEMA, generated_at: new Date().toISOString(), machine: machineInfo(), options: { quick: p.quick, only: p.only },
    sections: {}, targets: [],
  };
  const m = results.machine;
  say(`SMCP benchmarks — ${m.cpus} × ${m.cpu_model}, ${m.total_mem_mb} MB, node ${m.node}${p.quick ? " (--quick: smoke-run counts, not the published figures)" : ""}\n`);
  let failed = false;
  const guard = async <T>(name: string, fn: () => Promise<T>): Promise<T | { status: "not run"; reason: string }> => {
    try {
      return await fn();
    } catch (err) {
      failed = true;
      say(`${name}: FAILED — ${(err as Error).message}`);
      return { status: "not run", reason: `failed: ${(err as Error).message}` };
    }
  };
  if (p.only.includes("call")) {
    say("## 1. Remote tool call round trip (measuring…)");
    results.sections.call = await guard("call", () => benchCall(p.calls));
    say(renderCall(results));
  }
  if (p.only.includes("fanout")) {
    say("## 2. Event fan-out (measuring…)");
    results.sections.fanout = await guard("fanout", () => benchFanout(p.fanout));
    say(renderFanout(results));
  }
  if (p.only.includes("crypto")) {
    say("## 3. Crypto and validation costs (measuring…)");
    results.sections.crypto = cryptoCosts();
    say(renderCrypto(results.sections.crypto));
  }
  if (p.only.includes("conformance")) {
    say("## 4. Conformance run time (measuring…)");
    results.sections.conformance = await benchConformance(p.conformance);
    say(renderConformance(results));
  }
  results.targets = targets(results);
  say(renderTargets(results.targets));
  writeResults(p.out, results);
  say(`results written to ${p.out}`);
  if (failed) process.exitCode = 1;
}

function say(text: string): void {
  process.stdout.write(text + "\n");
}

function targets(r: BenchResults): TargetCheck[] {
  const out: TargetCheck[] = [];
  const at = (figure: string, target: string, value: number, pass: boolean) => out.push({ figure, target, value, pass });
  const call = r.sections.call;
  if (call && !isSkipped(call)) {
    at("federated call round trip p99 (ms)", `< ${TARGETS.callP99Ms}`, call.federated_ms.p99, call.federated_ms.p99 < TARGETS.callP99Ms);
    for (const q of ["p50", "p99"] as const) {
      at(`federated call ÷ local call at ${q}`, `≤ ${TARGETS.federatedVsLocal}×`, call.federated_vs_local[q], call.federated_vs_local[q] <= TARGETS.federatedVsLocal);
    }
    at("signed hop ÷ unsigned hop at p50", `≤ ${TARGETS.signedVsUnsigned}×`, call.signed_vs_unsigned.p50, call.signed_vs_unsigned.p50 <= TARGETS.signedVsUnsigned);
  }
  const fan = r.sections.fanout;
  if (fan && !isSkipped(fan)) {
    const model = fan.hub_cpu_model;
    if (model) {
      at("hub CPU µs per event, fixed part (fit over sizes)", `≤ ${TARGETS.hubFixedUs}`, model.fixed_us_per_event, model.fixed_us_per_event <= TARGETS.hubFixedUs);
      at("hub CPU µs per event, per destination (fit over sizes)", `≤ ${TARGETS.hubPerDestinationUs}`, model.per_destination_us, model.per_destination_us <= TARGETS.hubPerDestinationUs);
    }
    for (const b of fan.by_size) {
      const us = b.participant_us_per_delivery.p50;
      if (Number.isFinite(us)) at(`participant CPU µs per delivered event, ${b.participants} participants (median of ${b.runs})`, `≤ ${TARGETS.participantUs}`, us, us <= TARGETS.participantUs);
    }
    for (const [n, floor] of TARGETS.deliveredPerS) {
      const b = fan.by_size.find((x) => x.participants === n);
      if (b) at(`events/s delivered durably to ${n} participants (median of ${b.runs})`, `≥ ${floor}`, b.delivered_per_s.p50, !b.any_timed_out && b.delivered_per_s.p50 >= floor);
    }
  }
  const conf = r.sections.conformance;
  if (conf && conf.status === "run") {
    const s = conf.wall_ms.p50 / 1000;
    const clean = conf.runs.every((x) => x.exit_code === 0);
    at(`full conformance run with durability, wall s (median of ${conf.runs.length}${clean ? "" : ", a run failed"})`, `≤ ${TARGETS.conformanceS}`, s, clean && s <= TARGETS.conformanceS);
  }
  return out;
}

const row = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
const spread = (s: Summary, d = 2) => `${fmt(s.min, d)} – ${fmt(s.max, d)}`;

function renderCall(r: BenchResults): string {
  const c = r.sections.call;
  if (!c || isSkipped(c)) return `not run: ${c?.reason ?? "not selected"}\n`;
  const line = (name: string, s: Summary) => row([name, s.runs, fmt(s.p50, 3), fmt(s.p95, 3), fmt(s.p99, 3), fmt(s.max, 3), spread(s, 3)]);
  return [
    `How: ${c.how}.`,
    `Warm-up ${c.warmup} of each probe; call request ${c.request_bytes} B, answer ${c.response_bytes} B; hop request ${c.hop_request_bytes} B; ` +
      `${c.errors} non-200 answers; 1-min load average before: ${c.loadavg_1m_before}.`,
    "",
    row(["figure (ms)", "samples", "p50", "p95", "p99", "max", "min – max"]),
    row(["---", "---:", "---:", "---:", "---:", "---:", "---:"]),
    line("federated call: client → alice → bob → vikunja → back", c.federated_ms),
    line("local call: client → bob's control API → vikunja", c.local_ms),
    line("signed hop: sign + reference edge + authenticate", c.hop_signed_ms),
    line("unsigned hop: same body, same edge, no signature", c.hop_unsigned_ms),
    line("alice handler (its log: POST /control/v1/calls)", c.breakdown.alice_control_ms),
    line("bob handler (its log: POST /federation/v1/call, incl. MCP)", c.breakdown.bob_federation_ms),
    "",
    `federated ÷ local: p50 ${fmt(c.federated_vs_local.p50, 2)}×, p99 ${fmt(c.federated_vs_local.p99, 2)}×; ` +
      `signed ÷ unsigned hop: p50 ${fmt(c.signed_vs_unsigned.p50, 2)}×, p99 ${fmt(c.signed_vs_unsigned.p99, 2)}×`,
    "",
  ].join("\n");
}

function renderFanout(r: BenchResults): string {
  const f = r.sections.fanout;
  if (!f || isSkipped(f)) return `not run: ${f?.reason ?? "not selected"}\n`;
  const lines = [
    `How: ${f.how}. Cap ${f.cap_s} s per scenario; ${f.runs} run(s) per size with fresh instances, sizes interleaved.`,
    "",
    row(["participants", "runs", "delivered events/s: median", "min – max", "published/s: median", "min – max", "latency p99 ms: median", "min – max", "hub CPU µs/event: median", "participant CPU µs/delivery: median"]),
    row(["---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
    ...f.by_size.map((b) => row([
      b.participants, b.runs, fmt(b.delivered_per_s.p50, 0), spread(b.delivered_per_s, 0), fmt(b.published_per_s.p50, 0), spread(b.published_per_s, 0),
      fmt(b.latency_p99_ms.p50, 1), spread(b.latency_p99_ms, 1), fmt(b.hub_us_per_event.p50, 0), fmt(b.participant_us_per_delivery.p50, 0),
    ])),
    "",
    f.hub_cpu_model
      ? `Hub CPU per event ≈ ${fmt(f.hub_cpu_model.fixed_us_per_event, 0)} µs + ${fmt(f.hub_cpu_model.per_destination_us, 1)} µs × participants ` +
        `(least squares over the medians of ${f.hub_cpu_model.points.map((p) => p.participants).join(", ")} participants).`
      : "Hub CPU model: needs at least two sizes.",
    "",
    "Every run:",
    "",
    row(["participants", "run", "events published", "published/s", "delivered to all", "delivered events/s", "deliveries/s", "latency samples", "p50 ms", "p99 ms", "min – max ms", "participants done (s)", "CPU s hub / participants / bench (wall s)", "CPU µs hub per event / participant per delivery", "hub queue suspensions / failed txns", "load avg before"]),
    row(["---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
  ];
  for (const s of f.scenarios) {
    lines.push(row([
      s.participants, s.run, s.published, fmt(s.published_per_s, 0), `${s.delivered_all}${s.timed_out ? " (cap hit)" : ""}`, fmt(s.delivered_per_s, 0),
      fmt(s.deliveries_per_s, 0), s.latency_ms.runs, fmt(s.latency_ms.p50, 1), fmt(s.latency_ms.p99, 1), spread(s.latency_ms, 1),
      `${fmt(s.participant_done_s.min, 2)} – ${fmt(s.participant_done_s.max, 2)}`,
      s.cpu_s ? `${fmt(s.cpu_s.hub, 1)} / ${fmt(s.cpu_s.participants, 1)} / ${fmt(s.cpu_s.bench, 1)} (${fmt(s.cpu_s.wall, 1)})` : "n/a",
      s.cpu_us ? `${fmt(s.cpu_us.hub_per_event, 0)} / ${fmt(s.cpu_us.participant_per_delivery, 0)}` : "n/a",
      `${s.hub_log.queue_suspensions} / ${s.hub_log.failed_transactions}`, s.loadavg_1m_before,
    ]));
  }
  return lines.join("\n") + "\n";
}

function renderCrypto(c: Record<string, Summary>): string {
  const lines = [
    "Per operation in µs: each sample is the mean of one batch (bench/crypto.ts microbench: 30 batches of 200, noble 10 of 50, schema 30 of 2000).",
    "",
    row(["operation", "batches", "p50 µs", "p95 µs", "min – max µs", "ops/s at p50"]),
    row(["---", "---:", "---:", "---:", "---:", "---:"]),
  ];
  for (const [name, s] of Object.entries(c)) lines.push(row([name, s.runs, fmt(s.p50, 2), fmt(s.p95, 2), spread(s, 2), fmt(1e6 / s.p50, 0)]));
  return lines.join("\n") + "\n";
}

function renderConformance(r: BenchResults): string {
  const c = r.sections.conformance;
  if (!c) return "not run: not selected\n";
  if (c.status === "not run") return `not run: ${c.reason}\n`;
  const lines = [
    `How: \`${c.command}\` as a subprocess (it starts two local reference instances itself).`,
    "",
    row(["run", "wall s", "exit code", "checks pass / fail / total"]),
    row(["---:", "---:", "---:", "---"]),
    ...c.runs.map((x, i) => row([i + 1, fmt(x.wall_ms / 1000, 1), String(x.exit_code), x.summary ? `${x.summary.pass} / ${x.summary.fail} / ${x.summary.total}` : "no summary"])),
    "",
    `wall time over ${c.wall_ms.runs} run(s): p50 ${fmt(c.wall_ms.p50 / 1000, 1)} s, min – max ${fmt(c.wall_ms.min / 1000, 1)} – ${fmt(c.wall_ms.max / 1000, 1)} s`,
  ];
  return lines.join("\n") + "\n";
}

function renderTargets(t: TargetCheck[]): string {
  if (t.length === 0) return "## Targets\nno targeted figure was measured\n";
  return [
    "## Targets",
    "",
    row(["figure", "target", "measured", "verdict"]),
    row(["---", "---", "---:", "---"]),
    ...t.map((x) => row([x.figure, x.target, fmt(x.value, 2), x.pass ? "PASS" : "MISS"])),
    "",
  ].join("\n");
}

await main();
