// Conformance harness self-tests: the interop matrix — pair enumeration, the requirement cell rule, and a real
// matrix of two entries (the reference instance under two names) written as JSON, Markdown and HTML.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "./cli.ts";
import { orderedPairs, parseImplementation, requirementCell, type MatrixReport } from "./matrix.ts";
import { validateReport } from "./report-schema.ts";
import type { CheckResult } from "./runner.ts";

const SMCP_BIN = fileURLToPath(new URL("../bin/smcp.js", import.meta.url));
const dirs: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const result = (id: string, status: CheckResult["status"], requirements = ["SIGN-06"]): CheckResult => ({ id, name: id, requirements, level: "MUST", status, duration_ms: 1, details: [], wire: [], expectation: "none" });

describe("matrix", () => {
  it("every ordered pair, A with A included", () => {
    expect(orderedPairs(["a", "b"])).toEqual([{ alice: "a", bob: "a" }, { alice: "a", bob: "b" }, { alice: "b", bob: "a" }, { alice: "b", bob: "b" }]);
    expect(orderedPairs(["a", "b", "c"])).toHaveLength(9);
  });

  it("--impl NAME=CMD: the name names files, so it is restricted; the command keeps its own '='", () => {
    expect(parseImplementation("go-smcp=./smcp --port={port}")).toEqual({ name: "go-smcp", command: "./smcp --port={port}" });
    for (const bad of ["=cmd", "no-equals", "../x=cmd", "a b=cmd", "ok="]) expect(() => parseImplementation(bad), bad).toThrow(/--impl/);
  });

  it("a requirement fails in a pair when any check citing it failed; excluded when none ran", () => {
    expect(requirementCell([result("x/a", "pass"), result("x/b", "fail")], "SIGN-06")).toEqual({ status: "fail", checks: ["x/a", "x/b"], failing: ["x/b"] });
    expect(requirementCell([result("x/a", "pass"), result("x/b", "not-testable")], "SIGN-06").status).toBe("not-testable");
    expect(requirementCell([result("x/a", "pass"), result("x/b", "excluded")], "SIGN-06").status).toBe("pass");
    expect(requirementCell([result("x/b", "excluded")], "SIGN-06").status).toBe("excluded");
  });

  it("refuses usage errors before starting anything: no --impl, a duplicate name, a command without {port}, run-only flags", async () => {
    const err: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((c) => (err.push(String(c)), true));
    expect(await main(["matrix"])).toBe(2);
    expect(await main(["matrix", "--impl", "a=x {port}", "--impl", "a=y {port}"])).toBe(2);
    expect(await main(["matrix", "--impl", "a=x"])).toBe(2);
    expect(await main(["matrix", "--impl", "a=x {port}", "--json", "r.json"])).toBe(2);
    expect(err.join("")).toMatch(/at least one --impl[\s\S]*given twice[\s\S]*\{port\}[\s\S]*does not apply to matrix/);
  });

  it("two entries: four runs, a requirement × pair report as JSON, Markdown and HTML, each cell one click from its run", async () => {
    const out = mkdtempSync(join(tmpdir(), "smcp-matrix-"));
    dirs.push(out);
    vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const cmd = `"${process.execPath}" "${SMCP_BIN}" serve --name {name} --listen 127.0.0.1:{port} --data {data} --control-token={token} --accept-all-invites`;
    const code = await main(["matrix", "--impl", `ref-a=${cmd}`, "--impl", `ref-b=${cmd}`, "--out", out, "--only", "sc/discovery/*"]);
    expect(code).toBe(0);
    const m = JSON.parse(readFileSync(join(out, "matrix.json"), "utf8")) as MatrixReport;
    expect(m.runs.map((r) => `${r.pair.alice}>${r.pair.bob}`)).toEqual(["ref-a>ref-a", "ref-a>ref-b", "ref-b>ref-a", "ref-b>ref-b"]);
    for (const r of m.runs) {
      expect(r.exit_code).toBe(0);
      expect(r.summary.pass).toBeGreaterThan(0);
      expect(validateReport(JSON.parse(readFileSync(join(out, r.json), "utf8")))).toEqual([]);
      expect(readFileSync(join(out, r.html), "utf8")).toContain("<!doctype html>");
    }
    expect(m.requirements.length).toBeGreaterThan(0);
    for (const row of m.requirements) {
      expect(row.cells).toHaveLength(4);
      expect(row.cells.every((c) => c.status === "pass" || c.status === "excluded"), row.id).toBe(true);
    }
    const md = readFileSync(join(out, "matrix.md"), "utf8");
    expect(md).toMatch(/\| requirement \| ref-a → ref-a \| ref-a → ref-b \| ref-b → ref-a \| ref-b → ref-b \|/);
    const html = readFileSync(join(out, "matrix.html"), "utf8");
    const links = [...html.matchAll(/href="([^"#]+)/g)].map((x) => x[1]!);
    expect(new Set(links)).toEqual(new Set(m.runs.map((r) => r.html)));
    for (const l of links) expect(existsSync(join(out, l)), l).toBe(true);
  }, 120_000);

  it("an implementation that disagrees shows up in every pair it is part of, and its cells link to the failing check", async () => {
    const out = mkdtempSync(join(tmpdir(), "smcp-matrix-"));
    dirs.push(out);
    vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const cmd = `"${process.execPath}" "${SMCP_BIN}" serve --name {name} --listen 127.0.0.1:{port} --data {data} --control-token={token} --accept-all-invites`;
    // The planted bug: a discovery document whose endpoint points nowhere.
    const code = await main(["matrix", "--impl", `ref=${cmd}`, "--impl", `lies=${cmd} --public-url http://127.0.0.1:1`, "--out", out, "--only", "sc/discovery/well-known"]);
    expect(code).toBe(1);
    const m = JSON.parse(readFileSync(join(out, "matrix.json"), "utf8")) as MatrixReport;
    expect(m.runs.map((r) => r.exit_code)).toEqual([0, 1, 1, 1]);
    const failingRows = m.requirements.filter((row) => row.cells.some((c) => c.status === "fail"));
    expect(failingRows.length).toBeGreaterThan(0);
    for (const row of failingRows) expect(row.cells.map((c) => c.status)).toEqual(["pass", "fail", "fail", "fail"]);
    const html = readFileSync(join(out, "matrix.html"), "utf8");
    expect(html).toContain(`href="runs/ref__lies.html#check-${encodeURIComponent("sc/discovery/well-known@bob")}"`);
    expect(readFileSync(join(out, "runs/ref__lies.html"), "utf8")).toContain('id="check-sc/discovery/well-known@bob"');
  }, 120_000);
});
