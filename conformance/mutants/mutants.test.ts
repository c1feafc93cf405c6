// Mutation testing of the conformance harness: the runner's mechanics — patch application, stale detection, the
// catalogue's own consistency, classification, score arithmetic, sampling, and a whole run against a tiny fake harness.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { classify, tally, verdict, type HarnessRun } from "./classify.ts";
import { ALL_MUTANTS } from "./catalogue/index.ts";
import { applyMutant, catalogueProblems, occurrences, type Mutant } from "./mutant.ts";
import { runMutants, type HarnessCommand } from "./runner.ts";
import { only, partitionStale, sample } from "./selection.ts";
import { ALLOWED_SURVIVORS } from "./survivors.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const REQUIREMENTS = new Set(
  (JSON.parse(readFileSync(join(REPO, "spec", "requirements.json"), "utf8")) as { requirements: { id: string }[] }).requirements.map((r) => r.id),
);

const mutant = (over: Partial<Mutant> = {}): Mutant => ({
  id: "area/name", file: "src/lib.js", find: "return 42;", replace: "return 41;", requirements: ["SIGN-25"], section: "§5.5",
  why: "an off-by-one in the answer", ...over,
});

describe("patch application and stale detection", () => {
  it("replaces the one occurrence, and only it", () => {
    expect(applyMutant(mutant(), "a\nreturn 42;\nb")).toEqual({ text: "a\nreturn 41;\nb" });
  });

  it("is stale when the find no longer occurs, occurs twice, or the file is gone", () => {
    expect(applyMutant(mutant(), "return 43;")).toEqual({ stale: "find no longer occurs in src/lib.js" });
    expect(applyMutant(mutant(), "return 42; return 42;")).toEqual({ stale: "find occurs 2 times in src/lib.js; it must be unique" });
    expect(applyMutant(mutant(), undefined)).toEqual({ stale: "src/lib.js does not exist" });
  });

  it("counts overlapping occurrences, so an ambiguous find is never taken for a unique one", () => {
    expect(occurrences("aaa", "aa")).toBe(2);
    expect(occurrences("abc", "")).toBe(0);
  });

  it("partitions a catalogue against the files of a tree", () => {
    const repo = mkdtempSync(join(tmpdir(), "mutants-tree-"));
    try {
      mkdirSync(join(repo, "src"));
      writeFileSync(join(repo, "src", "lib.js"), "export function answer() { return 42; }\n");
      const { live, stale } = partitionStale(repo, [mutant(), mutant({ id: "area/gone", find: "return 7;" }), mutant({ id: "area/nofile", file: "src/none.js" })]);
      expect(live.map((m) => m.id)).toEqual(["area/name"]);
      expect(stale.map((s) => s.id)).toEqual(["area/gone", "area/nofile"]);
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });
});

describe("the catalogue", () => {
  it("is consistent: unique ids, known requirements, sections, reasons, finds of at most two lines", () => {
    expect(catalogueProblems(ALL_MUTANTS, REQUIREMENTS)).toEqual([]);
    expect(ALL_MUTANTS.length).toBeGreaterThanOrEqual(60);
  });

  it("catches a broken entry", () => {
    const bad = [mutant(), mutant(), mutant({ id: "Bad Id", requirements: ["NOPE-1"], section: "5.5", why: "", find: "a\nb\nc", replace: "a\nb\nc" })];
    const problems = catalogueProblems(bad, REQUIREMENTS);
    expect(problems).toContain("area/name: duplicate id");
    expect(problems).toEqual(expect.arrayContaining([
      "Bad Id: id must be lowercase area/name", "Bad Id: unknown requirement NOPE-1", "Bad Id: section must look like §5.5",
      "Bad Id: say why (the implementer's mistake)", "Bad Id: replace equals find", "Bad Id: find spans more than two lines",
    ]));
  });

  it("has every mutant applying to the current tree (a stale one must be re-targeted, not dropped)", () => {
    expect(partitionStale(REPO, ALL_MUTANTS).stale).toEqual([]);
  });

  it("allow-lists only mutants that exist, each with a reason", () => {
    for (const [id, entry] of Object.entries(ALLOWED_SURVIVORS)) {
      expect(ALL_MUTANTS.some((m) => m.id === id), id).toBe(true);
      expect(entry.reason.length, id).toBeGreaterThan(20);
    }
  });

  it("spreads over the spec's sections", () => {
    const sections = new Set(ALL_MUTANTS.map((m) => m.section.slice(1).split(".")[0]));
    for (const s of ["3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "16"]) expect(sections, `§${s}`).toContain(s);
  });
});

const run = (over: Partial<HarnessRun>): HarnessRun => ({ exitCode: 0, signal: null, timedOut: false, outputTail: "", ...over });

describe("classification", () => {
  it("killed: a check failed; the killers are the failed checks", () => {
    const o = classify(run({ exitCode: 1, report: { checks: [
      { id: "a", status: "pass" }, { id: "b", status: "fail", category: "requirement", details: ["expected 401"] }, { id: "c", status: "not-testable" },
    ] } }));
    expect(o).toMatchObject({ status: "killed", killers: ["b"], notTestable: 1, firstFailure: "expected 401" });
  });

  it("survived: every check passed", () => {
    expect(classify(run({ report: { checks: [{ id: "a", status: "pass" }, { id: "x", status: "excluded" }] } })).status).toBe("survived");
  });

  it("error: exit 2 (the mutant did not start), no report, harness errors only, or exit 1 without a failed check", () => {
    expect(classify(run({ exitCode: 2, outputTail: "alice exited (1) before it was ready\n" }))).toMatchObject({ status: "error", detail: expect.stringContaining("before it was ready") });
    expect(classify(run({ exitCode: 1 })).status).toBe("error");
    expect(classify(run({ exitCode: 1, report: { checks: [{ id: "a", status: "fail", category: "harness-error" }] } })).status).toBe("error");
    expect(classify(run({ exitCode: 1, report: { checks: [{ id: "a", status: "pass" }] } })).status).toBe("error");
  });

  it("timeout is its own status, never a kill", () => {
    expect(classify(run({ timedOut: true, exitCode: null, signal: "SIGTERM" })).status).toBe("timeout");
  });

  it("a check that fails on the unmutated baseline too never counts as a kill", () => {
    const failing = { exitCode: 1, report: { checks: [{ id: "flaky", status: "fail", category: "requirement" }] } };
    expect(classify(run(failing), new Set(["flaky"]))).toMatchObject({ status: "survived", ignored: ["flaky"] });
    expect(classify(run({ ...failing, report: { checks: [...failing.report.checks, { id: "real", status: "fail" }] } }), new Set(["flaky"])))
      .toMatchObject({ status: "killed", killers: ["real"] });
  });

  it("expected failures (listed by the harness's own file) are not kills", () => {
    expect(classify(run({ report: { checks: [{ id: "a", status: "fail", expectation: "expected-failure" }] } })).status).toBe("survived");
  });
});

describe("score arithmetic and the verdict", () => {
  const outcomes = [
    ...Array.from({ length: 19 }, () => ({ status: "killed" as const, allowListed: false })),
    { status: "survived" as const, allowListed: false },
    { status: "survived" as const, allowListed: true },
    { status: "error" as const, allowListed: false },
    { status: "timeout" as const, allowListed: false },
  ];

  it("score = killed / (killed + survived); allow-listed survivors, errors and timeouts are outside it", () => {
    const t = tally(outcomes, 0);
    expect(t).toEqual({ killed: 19, survived: 1, allowed: 1, error: 1, timeout: 1, stale: 0, score: 0.95 });
    expect(verdict(t, 0.95, 0).ok).toBe(true);
    expect(verdict(t, 0.96, 0)).toEqual({ ok: false, reasons: ["score 95.0% is below --min-score 96.0%"] });
  });

  it("fails on any stale mutant or stale allow-list entry, and when nothing was measured", () => {
    expect(verdict(tally(outcomes, 1), 0.5, 0).ok).toBe(false);
    expect(verdict(tally(outcomes, 0), 0.5, 1).ok).toBe(false);
    const none = tally([{ status: "error", allowListed: false }], 0);
    expect(none.score).toBeNull();
    expect(verdict(none, 0, 0).ok).toBe(false);
  });
});

describe("selection", () => {
  const many = Array.from({ length: 40 }, (_, i) => mutant({ id: `s${i % 4}/m${i}`, section: `§${(i % 4) + 3}.1` }));

  it("--sample is deterministic, of the asked size, in catalogue order, and touches every section", () => {
    const a = sample(many, 8);
    expect(a).toEqual(sample(many, 8));
    expect(a).toHaveLength(8);
    expect(a.map((m) => many.indexOf(m))).toEqual([...a.map((m) => many.indexOf(m))].sort((x, y) => x - y));
    expect(new Set(a.map((m) => m.section)).size).toBe(4);
    expect(sample(many, 8, "other")).not.toEqual(a);
    expect(sample(many, 100)).toHaveLength(40);
  });

  it("--only takes IDs and globs, and refuses a pattern that matches nothing", () => {
    expect(only(many, ["s1/m1", "s2/*"]).map((m) => m.id)).toEqual(["s1/m1", ...many.filter((m) => m.id.startsWith("s2/")).map((m) => m.id)]);
    expect(() => only(many, ["nope/*"])).toThrow("--only nope/* matches no mutant");
  });
});

describe("a whole run against a fake harness", () => {
  // A repository of one source file; the fake harness reads the scratch copy's file and reports like conformance/cli.ts.
  const repo = mkdtempSync(join(tmpdir(), "mutants-repo-"));
  const work = join(repo, "work");
  mkdirSync(join(repo, "src"));
  mkdirSync(join(repo, "node_modules"));
  writeFileSync(join(repo, "src", "lib.js"), "export function answer() {\n  return 42;\n}\n");
  writeFileSync(join(repo, "src", "lib.test.ts"), "// left out of scratch copies\n");
  const fake = join(repo, "fake-harness.mjs");
  writeFileSync(fake, `
import { readFileSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
const [dir, json, pidFile] = process.argv.slice(2);
const src = readFileSync(dir + "/src/lib.js", "utf8");
if (src.includes("START FAILS")) {
  writeFileSync(dir + "/smcp-conformance-alice-x.log", "Error: ENOENT: no such file, chmod smcp.sqlite\\n");
  console.error("alice exited (1) before it was ready");
  process.exit(2);
}
// An instance the harness forgets to stop: the runner must kill it with the harness's process group.
const orphan = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
writeFileSync(pidFile, String(orphan.pid));
if (src.includes("HANGS")) setInterval(() => {}, 1000);
else {
  const failed = src.includes("return 41;");
  const checks = [{ id: "sc/answer", status: failed ? "fail" : "pass", category: "requirement", details: ["expected 42"] }, { id: "sc/other", status: "pass" }];
  writeFileSync(json, JSON.stringify({ checks }));
  process.exit(failed ? 1 : 0);
}
`);
  const pidFiles: string[] = [];
  const harness: HarnessCommand = (dir, json, m) => {
    const pidFile = join(repo, `${m?.id.replace("/", "_") ?? "baseline"}.pid`);
    pidFiles.push(pidFile);
    return { command: process.execPath, args: [fake, dir, json, pidFile], cwd: repo };
  };
  afterAll(() => rmSync(repo, { recursive: true, force: true }));

  it("classifies each mutant, in catalogue order, cleans up its scratch copy and kills what the harness left running", async () => {
    const catalogue = [
      mutant({ id: "t/killed" }),
      mutant({ id: "t/survived", replace: "return 42 ;" }),
      mutant({ id: "t/error", replace: "return 42; // START FAILS" }),
      mutant({ id: "t/timeout", replace: "return 42; // HANGS" }),
      mutant({ id: "t/outside", file: "other/x.js" }),
    ];
    const seen: string[] = [];
    const results = await runMutants(catalogue, { repo, harness, jobs: 2, timeoutMs: 3_000, workDir: work, entries: ["src"], onResult: (r) => seen.push(r.id) });
    expect(results.map((r) => [r.id, r.status])).toEqual([
      ["t/killed", "killed"], ["t/survived", "survived"], ["t/error", "error"], ["t/timeout", "timeout"], ["t/outside", "error"],
    ]);
    expect(results[0]!.killers).toEqual(["sc/answer"]);
    expect(results[2]!.detail).toContain("before it was ready");
    expect(results[2]!.instanceLogs).toEqual({ "smcp-conformance-alice-x.log": "Error: ENOENT: no such file, chmod smcp.sqlite\n" });
    expect(results[4]!.detail).toContain("outside the copied sources");
    expect(seen.sort()).toEqual(catalogue.map((m) => m.id).sort());
    expect(readdirSync(work)).toEqual([]);
    expect(readFileSync(join(repo, "src", "lib.js"), "utf8")).toContain("return 42;\n");
    for (const f of pidFiles.filter((p) => existsSync(p))) await expectDead(Number(readFileSync(f, "utf8")));
  });

  it("copies the sources without tests and links node_modules", async () => {
    const results = await runMutants([mutant({ id: "t/kept", replace: "return 42 ;" })], { repo, harness, jobs: 1, timeoutMs: 5_000, workDir: work, entries: ["src"], keep: true });
    const kept = results[0]!.kept!;
    try {
      expect(readdirSync(join(kept, "src")).sort()).toEqual(["lib.js"]);
      expect(readFileSync(join(kept, "src", "lib.js"), "utf8")).toContain("return 42 ;");
      expect(existsSync(join(kept, "node_modules"))).toBe(true);
    } finally {
      rmSync(kept, { recursive: true, force: true });
    }
  });
});

/** The process is gone (killed with its group); bounded, since the kernel reaps it asynchronously. */
async function expectDead(pid: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    if (Date.now() > deadline) throw new Error(`process ${pid} left running`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
