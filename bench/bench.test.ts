// Benchmarks (all SMCP components): smoke test of `npm run bench` — a tiny --quick run against real instances writes a
// results.json with every promised field. No timing is asserted: only counts, shapes and the bench's own invariants.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

  it("BENCH: figure 1 measured every call and as many floor echoes, all answered 200", () => {
    const call = doc.sections.call!;
    expect(isSkipped(call)).toBe(false);
    if (isSkipped(call)) return;
    expect(call.errors).toBe(0);
    expect(call.samples).toBe(CALLS);
    expect(call.round_trip_ms.runs).toBe(CALLS);
    expect(call.floor_ms.runs).toBe(CALLS);
    expect(call.breakdown.bob_federation_ms.runs).toBe(CALLS);
    expect(call.breakdown.local_call_ms.runs).toBe(CALLS);
    expect(call.ratio_p50).toBeCloseTo(call.round_trip_ms.p50 / call.floor_ms.p50, 9);
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
  });

  it("BENCH: figure 3 covers sign, verify (both libraries), canonical JSON and schema validation", () => {
    const names = Object.keys(doc.sections.crypto ?? {});
    for (const part of ["sign (node:crypto)", "verify (node:crypto", "sign (@noble/ed25519)", "verify (@noble/ed25519", "canonical JSON", "schema validation"]) {
      expect(names.some((n) => n.includes(part)), part).toBe(true);
    }
  });

  it("BENCH: targets carry a PASS/MISS verdict consistent with the figures, and the table prints them", () => {
    const p99 = doc.targets.find((t) => t.figure.startsWith("call round trip p99"))!;
    expect(p99.pass).toBe(p99.value < 10);
    for (const t of doc.targets) expect(stdout).toContain(`| ${t.figure} | ${t.target} |`);
    expect(stdout).toMatch(/\| (PASS|MISS) \|/);
  });

  it("BENCH: the shape check rejects a document missing promised fields (so the first test can fail)", () => {
    const broken = JSON.parse(JSON.stringify(doc)) as { sections: { call: { round_trip_ms: Record<string, unknown> } } };
    delete broken.sections.call.round_trip_ms.p99;
    expect(resultsProblems(broken)).toContain("call.round_trip_ms.p99 missing");
    expect(resultsProblems({ schema: "other" })).not.toEqual([]);
  });
});
