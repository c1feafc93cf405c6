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

const TARGETS = { callP99Ms: 10, callRatio: 3, fanoutEventsPerS: 5_000, fanoutParticipants: 5 } as const;

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
  const call = r.sections.call;
  if (call && !isSkipped(call)) {
    out.push({ figure: "call round trip p99 (ms)", target: `< ${TARGETS.callP99Ms}`, value: call.round_trip_ms.p99, pass: call.round_trip_ms.p99 < TARGETS.callP99Ms });
    out.push({ figure: "call / floor ratio at p50", target: `< ${TARGETS.callRatio}×`, value: call.ratio_p50, pass: call.ratio_p50 < TARGETS.callRatio });
    out.push({ figure: "call / floor ratio at p99", target: `< ${TARGETS.callRatio}×`, value: call.ratio_p99, pass: call.ratio_p99 < TARGETS.callRatio });
  }
  const fan = r.sections.fanout;
  const five = fan && !isSkipped(fan) ? fan.by_size.find((s) => s.participants === TARGETS.fanoutParticipants) : undefined;
  if (five) {
    const v = five.delivered_per_s.p50;
    out.push({
      figure: `events/s delivered durably to ${TARGETS.fanoutParticipants} participants (median of ${five.runs} runs)`, target: `≥ ${TARGETS.fanoutEventsPerS}`,
      value: v, pass: !five.any_timed_out && v >= TARGETS.fanoutEventsPerS,
    });
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
    `Warm-up ${c.warmup} calls and ${c.warmup} echoes; request ${c.request_bytes} B, answer ${c.response_bytes} B; ${c.errors} non-200 answers; ` +
      `1-min load average before: ${c.loadavg_1m_before} (shared machine).`,
    "",
    row(["figure (ms)", "samples", "p50", "p95", "p99", "max", "min – max"]),
    row(["---", "---:", "---:", "---:", "---:", "---:", "---:"]),
    line("round trip: client → alice → bob → vikunja → back", c.round_trip_ms),
    line("FLOOR: unsigned echo, same client and server stack", c.floor_ms),
    line("local call: client → bob's control API → vikunja (no federation)", c.breakdown.local_call_ms),
    line("alice handler (its log: POST /control/v1/calls)", c.breakdown.alice_control_ms),
    line("bob handler (its log: POST /federation/v1/call, incl. MCP)", c.breakdown.bob_federation_ms),
    "",
    `ratio round trip / floor: p50 ${fmt(c.ratio_p50, 1)}×, p99 ${fmt(c.ratio_p99, 1)}×`,
    "",
  ].join("\n");
}

function renderFanout(r: BenchResults): string {
  const f = r.sections.fanout;
  if (!f || isSkipped(f)) return `not run: ${f?.reason ?? "not selected"}\n`;
  const lines = [
    `How: ${f.how}. Cap ${f.cap_s} s per scenario; ${f.runs} run(s) per size with fresh instances, sizes interleaved.`,
    "",
    row(["participants", "runs", "delivered events/s: median", "min – max", "published/s: median", "min – max", "latency p99 ms: median", "min – max"]),
    row(["---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
    ...f.by_size.map((b) => row([
      b.participants, b.runs, fmt(b.delivered_per_s.p50, 0), spread(b.delivered_per_s, 0), fmt(b.published_per_s.p50, 0), spread(b.published_per_s, 0),
      fmt(b.latency_p99_ms.p50, 1), spread(b.latency_p99_ms, 1),
    ])),
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
      s.cpu_s ? `${fmt((s.cpu_s.hub / s.published) * 1e6, 0)} / ${fmt((s.cpu_s.participants / (s.delivered_all * s.participants)) * 1e6, 0)}` : "n/a",
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
