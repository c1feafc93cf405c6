// Conformance harness self-tests: runs one broken-target run (negative-runs.ts) and lists every result that is not
// as planted — a named check that did not fail as a requirement or instance-invalid failure, a dependant that ran,
// or any other check that did not pass against the reference instances behind the fronts.
import { allChecks } from "../../../conformance/checks/index.ts";
import type { Check } from "../../../conformance/context.ts";
import { runChecks } from "../../../conformance/runner.ts";
import { frontsFor } from "./fault-kit.ts";
import { SKIP_IN_RUNS, type BrokenRun } from "./negative-runs.ts";
import { referencePair } from "./reference-pair.ts";

/** Checks that rely, directly or through others, on one of `failing`. */
function dependants(checks: Check[], failing: Set<string>): Set<string> {
  const byId = new Map(checks.map((c) => [c.id, c]));
  const memo = new Map<string, boolean>();
  const blocked = (id: string): boolean => {
    if (memo.has(id)) return memo.get(id)!;
    memo.set(id, false);
    const v = (byId.get(id)?.prerequisites ?? []).some((p) => failing.has(p) || blocked(p));
    memo.set(id, v);
    return v;
  };
  return new Set(checks.filter((c) => blocked(c.id)).map((c) => c.id));
}

export async function surprisesOf(run: BrokenRun): Promise<string[]> {
  const pair = await referencePair(frontsFor(run.faults));
  try {
    const checks = allChecks();
    const results = await runChecks(checks, pair.ctx, { only: run.only ?? [], skip: SKIP_IN_RUNS, strict: true, expectedFailures: new Map(), checkTimeoutMs: 20_000 });
    const broken = new Set(run.faults.flatMap((f) => [f.breaks, ...(f.alsoFails ?? [])]));
    const blocked = dependants(checks, broken);
    const surprises: string[] = [];
    for (const r of results) {
      const want = broken.has(r.id) ? "fail" : r.status === "excluded" ? "excluded" : blocked.has(r.id) ? "not-testable" : "pass";
      const why = `${r.details[0] ?? ""} ${r.actual ?? ""}`.slice(0, 400);
      if (r.status !== want) surprises.push(`${r.id}: ${r.status} (want ${want}) ${why}`);
      else if (want === "fail" && r.category !== "requirement" && r.category !== "instance-invalid") surprises.push(`${r.id}: failed as ${r.category}: ${why}`);
    }
    const ran = new Set(results.filter((r) => r.status !== "excluded").map((r) => r.id));
    for (const f of run.faults) if (!ran.has(f.breaks)) surprises.push(`${f.breaks}: names a check this run does not run`);
    // A check that failed although its fault never answered anything failed for another reason.
    const fired = new Set([...pair.fronts.alice.fired.keys(), ...pair.fronts.bob.fired.keys()]);
    for (const f of run.faults) if (!fired.has(f.breaks)) surprises.push(`${f.breaks}: its planted bug (${f.bug}) never answered a request`);
    return surprises;
  } finally {
    await pair.close();
  }
}
