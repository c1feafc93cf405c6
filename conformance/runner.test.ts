// Conformance harness self-tests: check selection, prerequisites, expected-failures exit codes and report formats.
import { afterEach, describe, expect, it } from "vitest";
import { CheckFailure } from "./assert.ts";
import type { Check } from "./context.ts";
import { junitReport, jsonReport, type RunMeta } from "./report.ts";
import { htmlReport, type JsonRun } from "./report-html.ts";
import { plan, runChecks, type CheckResult } from "./runner.ts";
import { exitCodeFor, expectationFor, globMatches, parseExpectedFailures } from "./selection.ts";
import { validateReport } from "./report-schema.ts";
import { brokenPeer, type Harness } from "../tests/support/harness-self-test.ts";

const mk = (id: string, outcome: "pass" | "fail" | "throw", prerequisites: string[] = [], level: Check["level"] = "MUST"): Check => ({
  id,
  name: `check ${id}`,
  requirements: ["SIGN-06"],
  level,
  prerequisites,
  run: async () => {
    if (outcome === "fail") throw new CheckFailure("it broke", "a", "b");
    if (outcome === "throw") throw new TypeError("harness bug");
  },
});

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function run(checks: Check[], opts: Partial<Parameters<typeof runChecks>[2]> = {}): Promise<CheckResult[]> {
  h = (await brokenPeer({})).h;
  return runChecks(checks, h.ctx, { only: [], skip: [], strict: false, expectedFailures: new Map(), ...opts });
}

describe("selection (--only/--skip globs)", () => {
  it("* spans slashes; a pattern without @instance selects both instances", () => {
    expect(globMatches("adv/sign/*", "adv/sign/replay@bob")).toBe(true);
    expect(globMatches("adv/*", "adv/sign/replay@alice")).toBe(true);
    expect(globMatches("adv/sign/replay", "adv/sign/replay@alice")).toBe(true);
    expect(globMatches("adv/sign/replay@bob", "adv/sign/replay@alice")).toBe(false);
    expect(globMatches("sc/calls/?reate-task", "sc/calls/create-task")).toBe(true);
    expect(globMatches("sc/calls", "sc/calls/create-task")).toBe(false);
    expect(globMatches("a.b", "aXb")).toBe(false);
  });

  it("--only pulls in prerequisites transitively; --skip and SHOULD-without-strict exclude", () => {
    const checks = [mk("a/one", "pass"), mk("a/two", "pass", ["a/one"]), mk("b/three", "pass", ["a/two"]), mk("b/should", "pass", [], "SHOULD")];
    const p = plan(checks, { only: ["b/*"], skip: [], strict: false });
    expect([...p.run].sort()).toEqual(["a/one", "a/two", "b/three"]);
    expect(p.excluded.get("b/should")).toMatch(/--strict/);
    const q = plan(checks, { only: [], skip: ["a/two"], strict: true });
    expect(q.run.has("a/two")).toBe(false);
    expect(q.run.has("b/should")).toBe(true);
  });
});

describe("runner", () => {
  it("a failed prerequisite makes dependants FAIL as not testable, never skipped silently", async () => {
    const r = await run([mk("x/base", "fail"), mk("x/dep", "pass", ["x/base"]), mk("x/dep2", "pass", ["x/dep"])]);
    expect(r.map((x) => x.status)).toEqual(["fail", "not-testable", "not-testable"]);
    expect(r[1]!.details[0]).toBe("not testable: prerequisite x/base failed");
    expect(r[2]!.details[0]).toBe("not testable: prerequisite x/dep failed");
    expect(exitCodeFor(r)).toBe(1);
  });

  it("an excluded prerequisite makes its dependant not testable", async () => {
    const r = await run([mk("x/base", "pass"), mk("x/dep", "pass", ["x/base"])], { skip: ["x/base"] });
    expect(r.map((x) => x.status)).toEqual(["excluded", "not-testable"]);
    expect(r[1]!.details[0]).toMatch(/prerequisite x\/base was excluded/);
  });

  it("separates requirement failures from harness errors", async () => {
    const r = await run([mk("x/req", "fail"), mk("x/bug", "throw")]);
    expect(r.map((x) => x.category)).toEqual(["requirement", "harness-error"]);
    expect(r[0]!.expected).toBe("a");
    expect(r[0]!.actual).toBe("b");
  });
});

describe("side by side (the @alice and @bob halves of one check)", () => {
  /** Each half waits for the other to have started: run one after the other, the first would time out. */
  const halves = (sideBySide: boolean): Check[] => {
    let meet: () => void = () => {};
    const met = new Promise<void>((r) => (meet = r));
    const half = (role: "alice" | "bob"): Check => ({
      ...mk(`x/pair@${role}`, "pass"),
      sideBySide,
      run: async (ctx) => {
        ctx.note(`note of ${role}`);
        ctx.recorder.record({ dir: "out", via: `control@${role}`, method: "GET", url: `/${role}` });
        if (role === "bob") meet();
        else await met;
        ctx.recorder.record({ dir: "out", via: `control@${role}`, method: "GET", url: `/${role}/after` });
      },
    });
    return [mk("x/before", "pass"), half("alice"), half("bob"), mk("x/after", "pass")];
  };

  it("runs both halves at once, and reports them in list order, each with its own notes and wire log", async () => {
    const seen: string[] = [];
    const r = await run(halves(true), { checkTimeoutMs: 2_000, onResult: (x) => seen.push(x.id) });
    expect(r.map((x) => `${x.id} ${x.status}`)).toEqual(["x/before pass", "x/pair@alice pass", "x/pair@bob pass", "x/after pass"]);
    expect(seen).toEqual(r.map((x) => x.id));
    for (const role of ["alice", "bob"]) {
      const x = r.find((c) => c.id === `x/pair@${role}`)!;
      expect(x.details).toEqual([`note of ${role}`]);
      expect(x.wire.map((e) => e.url)).toEqual([`/${role}`, `/${role}/after`]);
    }
  });

  it("runs checks not declared side by side one at a time (the same pair then cannot meet)", async () => {
    const r = await run(halves(false), { checkTimeoutMs: 300 });
    expect(r.map((x) => x.status)).toEqual(["pass", "fail", "pass", "pass"]);
    expect(r[1]!.details[0]).toMatch(/did not finish within 300 ms/);
  });

  it("a half that needs the other runs after it", async () => {
    const checks = halves(true);
    checks[2] = { ...checks[2]!, prerequisites: ["x/pair@alice"] };
    const r = await run(checks, { checkTimeoutMs: 300 });
    expect(r.map((x) => x.status)).toEqual(["pass", "fail", "not-testable", "pass"]);
  });
});

describe("expected failures (MCP-conformance semantics)", () => {
  it("parses JSON arrays, JSON objects and text lists with comments", () => {
    expect([...parseExpectedFailures('["a/b", "c/*"]').keys()]).toEqual(["a/b", "c/*"]);
    expect(parseExpectedFailures('{"a/b": "known bug"}').get("a/b")).toBe("known bug");
    expect([...parseExpectedFailures('{"expected_failures": [{"id": "a/b", "reason": "r"}]}').keys()]).toEqual(["a/b"]);
    const text = parseExpectedFailures("# header\na/b   tracked in #12\n\n c/d \n");
    expect([...text.keys()]).toEqual(["a/b", "c/d"]);
    expect(text.get("a/b")).toBe("tracked in #12");
  });

  it("a listed failure exits 0, an unlisted failure exits 1, a listed check that passes exits 1 as stale", async () => {
    const listed = new Map([["x/broken", ""]]);
    expect(exitCodeFor(await run([mk("x/ok", "pass"), mk("x/broken", "fail")], { expectedFailures: listed }))).toBe(0);
    await h!.close();
    expect(exitCodeFor(await run([mk("x/ok", "pass"), mk("x/broken", "fail"), mk("x/other", "fail")], { expectedFailures: listed }))).toBe(1);
    await h!.close();
    const stale = await run([mk("x/broken", "pass")], { expectedFailures: listed });
    expect(stale[0]!.expectation).toBe("stale");
    expect(exitCodeFor(stale)).toBe(1);
  });

  it("a listed not-testable check counts as expected; excluded checks never count", () => {
    const e = new Map([["x/*", ""]]);
    expect(expectationFor("x/a", "not-testable", e)).toBe("expected-failure");
    expect(expectationFor("x/a", "excluded", e)).toBe("none");
    expect(exitCodeFor([{ status: "excluded", expectation: "none" }])).toBe(0);
  });
});

describe("reports", () => {
  const meta: RunMeta = { deployment: "test", alice: "a", bob: "b", startedAt: "2026-01-01T00:00:00.000Z", durationMs: 1234, options: {} };
  const result = (id: string, status: CheckResult["status"], expectation: CheckResult["expectation"] = "none"): CheckResult => ({
    id, name: `name <${id}> & "q"`, requirements: ["SIGN-06"], level: "MUST", status, duration_ms: 5, details: [status === "pass" ? "" : "why <it> failed"], wire: [], expectation,
    ...(status === "fail" ? { category: "requirement" as const, expected: "401", actual: "200" } : {}),
  });
  const results = [result("a/pass", "pass"), result("a/fail", "fail"), result("a/nt", "not-testable"), result("a/ex", "excluded"), result("a/xf", "fail", "expected-failure"), result("a/stale", "pass", "stale")];

  it("JUnit: failures, not-testable and stale are <failure>; excluded and expected failures are <skipped>; text is escaped", () => {
    const xml = junitReport(results, meta);
    expect(xml).toMatch(/<testsuites name="smcp-conformance" tests="6" failures="3" skipped="2" time="1.234">/);
    expect((xml.match(/<failure /g) ?? []).length).toBe(3);
    expect((xml.match(/<skipped /g) ?? []).length).toBe(2);
    expect(xml).toContain('type="stale-expected-failure"');
    expect(xml).toContain("name &lt;a/fail&gt; &amp; &quot;q&quot;");
    expect(xml).not.toMatch(/<it>/);
    expect(xml).toMatch(/classname="a" name="a\/pass"/);
  });

  it("JSON: one record per check with id, requirements, level, status, duration, expected/actual and wire log", () => {
    const json = JSON.parse(jsonReport(results, meta)) as { checks: Array<Record<string, unknown>>; exit_code: number };
    expect(json.checks).toHaveLength(6);
    expect(json.checks[1]).toMatchObject({ id: "a/fail", requirements: ["SIGN-06"], level: "MUST", status: "fail", expected: "401", actual: "200", wire: [] });
    expect(json.exit_code).toBe(1);
  });

  it("HTML: several runs side by side, one row per check, status and duration per cell, text escaped", () => {
    const run = JSON.parse(jsonReport(results, meta)) as JsonRun;
    const html = htmlReport([{ label: "ours", run }, { label: "theirs", run: { ...run, checks: run.checks.slice(0, 2) } }]);
    expect(html).toContain("<th>ours");
    expect(html).toContain("<th>theirs");
    for (const r of results) expect(html).toContain(`<code>${r.id}</code>`);
    expect(html).toContain("pass (STALE)");
    expect(html).toContain("fail (expected)");
    expect(html).toContain('<td class="none">—</td>');
    expect(html).not.toContain("<a/fail>");
  });
});

describe("JSON report schema (conformance/report.schema.json)", () => {
  const meta: RunMeta = {
    deployment: "reference", alice: "a @ http://127.0.0.1:1", bob: "b @ http://127.0.0.1:2", startedAt: "2026-01-01T00:00:00.000Z", durationMs: 1234,
    options: { latencyCalls: 200, latencyP99Ms: 500, strict: false, verbose: false, deliveryTimeoutMs: 10000, only: [], skip: [], expectedFailures: null },
    latency: { calls: 200, p50: 1.5, p95: 2, p99: 3, max: 4, boundMs: 500 },
  };
  const results: CheckResult[] = [
    { id: "a/b/pass", name: "n", requirements: ["SIGN-06"], level: "MUST", status: "pass", duration_ms: 5, details: [], wire: [{ dir: "out", via: "control@alice", method: "GET", url: "http://x/", status: 200, ms: 1.2 }], expectation: "none" },
    { id: "a/b/fail@bob", name: "n", requirements: ["SIGN-06"], level: "SHOULD", status: "fail", category: "requirement", expected: "401", actual: "200", duration_ms: 5, details: ["why"], wire: [], expectation: "expected-failure" },
  ];

  it("a report the harness writes is valid", () => {
    expect(validateReport(JSON.parse(jsonReport(results, meta)))).toEqual([]);
  });

  it("the schema bites: a wrong status, a missing field, an unknown member and a bad exit code are each refused", () => {
    const good = JSON.parse(jsonReport(results, meta)) as { checks: Array<Record<string, unknown>>; [k: string]: unknown };
    const variants: Array<(r: typeof good) => void> = [
      (r) => void (r.checks[0]!.status = "skipped"),
      (r) => void delete r.checks[0]!.duration_ms,
      (r) => void (r.checks[0]!.colour = "green"),
      (r) => void (r.exit_code = 2),
      (r) => void delete r.summary,
    ];
    for (const change of variants) {
      const r = structuredClone(good);
      change(r);
      expect(validateReport(r).length, change.toString()).toBeGreaterThan(0);
    }
  });
});
