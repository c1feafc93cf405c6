// Benchmarks (all SMCP components): smoke test of `npm run bench` — a tiny --quick run against real instances writes a
// results.json with every promised field. No timing is asserted: only counts, shapes and the bench's own invariants.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubCpuModel } from "./fanout.ts";
import { REPO } from "./instances.ts";
import { isSkipped, resultsProblems, RESULTS_SCHEMA, type BenchResults } from "./results.ts";

const run = promisify(execFile);
const CALLS = 20;
const EVENTS = 50;

describe("npm run bench --quick (bench/README.md)", () => {
  const dir = mkdtempSync(join(tmpdir(), "smcp-bench-test-"));
  const out = join(dir, "results.json");
  let doc: BenchResults;
  let stdout = "";

  beforeAll(async () => {
    const args = ["--import", "tsx", "bench/run.ts", "--quick", "--only", "call,fanout,crypto", "--calls", String(CALLS), "--events", String(EVENTS), "--sizes", "1", "--out", out];
    stdout = (await run(process.execPath, args, { cwd: REPO, timeout: 150_000 })).stdout;
    doc = JSON.parse(readFileSync(out, "utf8")) as BenchResults;
  }, 160_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("BENCH: results.json has every promised field, summaries ordered min ≤ p50 ≤ p99 ≤ max", () => {
    expect(resultsProblems(doc)).toEqual([]);
    expect(doc.schema).toBe(RESULTS_SCHEMA);
    expect(doc.options).toEqual({ quick: true, only: ["call", "fanout", "crypto"] });
  });

  it("BENCH: figure 1 measured every federated call, local call, signed and unsigned hop, all answered 200", () => {
    const call = doc.sections.call!;
    expect(isSkipped(call)).toBe(false);
    if (isSkipped(call)) return;
    expect(call.errors).toBe(0);
    expect(call.samples).toBe(CALLS);
    for (const k of ["federated_ms", "local_ms", "hop_signed_ms", "hop_unsigned_ms"] as const) expect(call[k].runs, k).toBe(CALLS);
    expect(call.breakdown.bob_federation_ms.runs).toBe(CALLS);
    expect(call.federated_vs_local.p50).toBeCloseTo(call.federated_ms.p50 / call.local_ms.p50, 9);
    expect(call.signed_vs_unsigned.p99).toBeCloseTo(call.hop_signed_ms.p99 / call.hop_unsigned_ms.p99, 9);
  });

  it("BENCH: figure 2 delivered every published event to the participant, one latency sample per event", () => {
    const fan = doc.sections.fanout!;
    expect(isSkipped(fan)).toBe(false);
    if (isSkipped(fan)) return;
    expect(fan.scenarios.map((s) => s.participants)).toEqual([1]);
    const s = fan.scenarios[0]!;
    expect(s.timed_out).toBe(false);
    expect(s.published).toBe(EVENTS);
    expect(s.delivered_all).toBe(EVENTS);
    expect(s.latency_ms.runs).toBe(EVENTS);
    expect(s.hub_log.queue_suspensions).toBe(0);
    expect(fan.by_size.map((b) => [b.participants, b.runs])).toEqual([[1, 1]]);
    expect(fan.by_size[0]!.delivered_per_s.p50).toBe(s.delivered_per_s);
    expect(s.cpu_us!.hub_per_event).toBeCloseTo((s.cpu_s!.hub / EVENTS) * 1e6, 6);
    expect(fan.hub_cpu_model).toBeNull(); // one size cannot separate the fixed from the per-destination cost
  });

  it("BENCH: the hub CPU model splits fixed and per-destination cost (least squares over sizes)", () => {
    expect(hubCpuModel([{ participants: 1, us: 70 }, { participants: 5, us: 110 }, { participants: 20, us: 260 }])).toEqual({
      fixed_us_per_event: 60, per_destination_us: 10, points: expect.any(Array),
    });
    expect(hubCpuModel([{ participants: 5, us: 100 }, { participants: 5, us: 120 }])).toBeNull();
  });

  it("BENCH: figure 3 covers sign, verify (both libraries), canonical JSON and schema validation", () => {
    const names = Object.keys(doc.sections.crypto ?? {});
    for (const part of ["sign (node:crypto)", "verify (node:crypto", "sign (@noble/ed25519)", "verify (@noble/ed25519", "canonical JSON", "schema validation"]) {
      expect(names.some((n) => n.includes(part)), part).toBe(true);
    }
  });

  it("BENCH: targets carry a PASS/MISS verdict consistent with the figures, and the table prints them", () => {
    const p99 = doc.targets.find((t) => t.figure.startsWith("federated call round trip p99"))!;
    expect(p99.pass).toBe(p99.value < 10);
    const ratio = doc.targets.find((t) => t.figure === "federated call ÷ local call at p50")!;
    expect(ratio.pass).toBe(ratio.value <= 1.5);
    const participant = doc.targets.find((t) => t.figure.startsWith("participant CPU µs per delivered event, 1 participants"))!;
    expect(participant.pass).toBe(participant.value <= 25);
    for (const t of doc.targets) expect(stdout).toContain(`| ${t.figure} | ${t.target} |`);
    expect(stdout).toMatch(/\| (PASS|MISS) \|/);
  });

  it("BENCH: the shape check rejects a document missing promised fields (so the first test can fail)", () => {
    const broken = JSON.parse(JSON.stringify(doc)) as { sections: { call: { federated_ms: Record<string, unknown> } } };
    delete broken.sections.call.federated_ms.p99;
    expect(resultsProblems(broken)).toContain("call.federated_ms.p99 missing");
    expect(resultsProblems({ schema: "other" })).not.toEqual([]);
  });
});
