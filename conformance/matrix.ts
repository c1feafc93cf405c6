// Conformance harness: the interop matrix — every ordered pair of implementations (alice = A, bob = B, A with A
// included) run through the checks, folded into one requirement × pair implementation report (W3C style).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { RoleSpec } from "./deployment.ts";
import { runPair, type PairSettings } from "./pair-run.ts";
import type { CheckResult } from "./runner.ts";

export interface Implementation {
  name: string;
  command: string;
}

/** `NAME=CMD`: a name of letters, digits, `.`, `_`, `-` (it names files), then any command line with {port}. */
export function parseImplementation(text: string): Implementation {
  const eq = text.indexOf("=");
  const name = text.slice(0, Math.max(eq, 0));
  if (eq < 1 || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) throw new Error(`--impl must be NAME=CMD with NAME of letters, digits, . _ - (got ${text})`);
  const command = text.slice(eq + 1).trim();
  if (!command) throw new Error(`--impl ${name}= has no command`);
  return { name, command };
}

export interface Pair {
  alice: string;
  bob: string;
}

/** Every ordered pair, A with A included: n² runs. */
export function orderedPairs(names: string[]): Pair[] {
  return names.flatMap((alice) => names.map((bob) => ({ alice, bob })));
}

export type CellStatus = "pass" | "fail" | "not-testable" | "excluded";

export interface PairRun {
  pair: Pair;
  /** Relative to the matrix folder. */
  json: string;
  html: string;
  exit_code: number;
  /** Set when the pair could not be deployed: no checks ran. */
  error?: string;
  summary: { pass: number; fail: number; notTestable: number; excluded: number };
}

export interface RequirementRow {
  id: string;
  cells: Array<{ status: CellStatus | "not-run"; checks: string[]; failing: string[] }>;
}

export interface MatrixReport {
  tool: "smcp-conformance matrix";
  startedAt: string;
  durationMs: number;
  implementations: Implementation[];
  runs: PairRun[];
  requirements: RequirementRow[];
}

/**
 * One requirement in one run: `fail` when any check citing it failed, `not-testable` when none failed but one could
 * not be tested, `pass` when every check that ran passed, `excluded` when none ran. Expected failures still count
 * as failures here: the matrix shows how implementations interoperate, not what each has waived.
 */
export function requirementCell(results: CheckResult[], requirement: string): RequirementRow["cells"][number] {
  const citing = results.filter((r) => r.requirements.includes(requirement));
  const failing = citing.filter((r) => r.status === "fail" || r.status === "not-testable").map((r) => r.id);
  const status: CellStatus = citing.some((r) => r.status === "fail")
    ? "fail"
    : citing.some((r) => r.status === "not-testable")
      ? "not-testable"
      : citing.some((r) => r.status === "pass")
        ? "pass"
        : "excluded";
  return { status, checks: citing.map((r) => r.id), failing };
}

export function pairFile(p: Pair): string {
  return `${p.alice}__${p.bob}`;
}

/** Runs every pair one after another (each starts its own two processes) and builds the report. */
export async function runMatrix(impls: Implementation[], outDir: string, settings: Omit<PairSettings, "reports">): Promise<MatrixReport> {
  const started = Date.now();
  mkdirSync(join(outDir, "runs"), { recursive: true });
  const byName = new Map(impls.map((i) => [i.name, i]));
  const runs: PairRun[] = [];
  const resultsPerRun: Array<CheckResult[] | undefined> = [];
  for (const pair of orderedPairs(impls.map((i) => i.name))) {
    const base = join("runs", pairFile(pair));
    const spec = (name: string): RoleSpec => ({ kind: "cmd", command: byName.get(name)!.command });
    settings.write(`\n=== matrix: alice = ${pair.alice}, bob = ${pair.bob}\n`);
    const run: PairRun = { pair, json: `${base}.json`, html: `${base}.html`, exit_code: 2, summary: { pass: 0, fail: 0, notTestable: 0, excluded: 0 } };
    try {
      const outcome = await runPair({ alice: spec(pair.alice), bob: spec(pair.bob) }, { ...settings, reports: { json: join(outDir, run.json), html: join(outDir, run.html) } });
      run.exit_code = outcome.code;
      for (const r of outcome.results) {
        if (r.status === "pass") run.summary.pass++;
        else if (r.status === "fail") run.summary.fail++;
        else if (r.status === "not-testable") run.summary.notTestable++;
        else run.summary.excluded++;
      }
      resultsPerRun.push(outcome.results);
    } catch (err) {
      // A pair that cannot be deployed is reported as such; the other pairs still run.
      run.error = (err as Error).message;
      resultsPerRun.push(undefined);
      settings.write(`matrix: ${pair.alice} × ${pair.bob} not run: ${run.error}\n`);
    }
    runs.push(run);
  }
  const ids = [...new Set(resultsPerRun.flatMap((rs) => (rs ?? []).flatMap((r) => r.requirements)))].sort(compareRequirementIds);
  const requirements = ids.map((id) => ({ id, cells: resultsPerRun.map((rs) => (rs ? requirementCell(rs, id) : { status: "not-run" as const, checks: [], failing: [] })) }));
  return { tool: "smcp-conformance matrix", startedAt: new Date(started).toISOString(), durationMs: Date.now() - started, implementations: impls, runs, requirements };
}

/** `SIGN-4` before `SIGN-10`. */
function compareRequirementIds(a: string, b: string): number {
  const [pa, na] = [a.replace(/-\d+$/, ""), Number(/\d+$/.exec(a)?.[0] ?? 0)];
  const [pb, nb] = [b.replace(/-\d+$/, ""), Number(/\d+$/.exec(b)?.[0] ?? 0)];
  return pa === pb ? na - nb : pa < pb ? -1 : 1;
}

/** 1 when any pair failed or could not run, else 0. */
export function matrixExitCode(m: MatrixReport): 0 | 1 {
  return m.runs.every((r) => r.exit_code === 0) ? 0 : 1;
}
