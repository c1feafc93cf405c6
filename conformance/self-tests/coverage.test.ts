// Conformance harness self-tests: every check ID of the registry has a negative self-test (a planted bug that makes it
// fail: a broken front's fault or a broken small target) or an allow-list entry with a reason — never both, never stale.
import { describe, expect, it } from "vitest";
import { allChecks } from "../checks/index.ts";
import { NO_NEGATIVE_SELF_TEST } from "./allow-list.ts";
import { BROKEN_RUNS } from "./negative-runs.ts";
import { smallTargetProofs } from "./small-target-proofs.ts";

const base = (id: string): string => id.replace(/@(alice|bob)$/, "");

describe("negative self-test coverage", () => {
  const checkIds = new Set(allChecks().map((c) => c.id));
  const ids = [...new Set([...checkIds].map(base))];
  const fronts = BROKEN_RUNS.flatMap((r) => r.faults.map((f) => f.breaks));
  const proven = new Set([...fronts.map(base), ...smallTargetProofs()]);

  it("every check has a negative self-test or an allow-list entry with a reason", () => {
    const missing = ids.filter((id) => !proven.has(id) && !(id in NO_NEGATIVE_SELF_TEST));
    expect(missing, "add a fault (self-tests/*-faults.ts) or a broken small target (small-target-proofs.ts) that makes these fail").toEqual([]);
  });

  it("every planted bug names a check that exists, and each names a different one", () => {
    expect(fronts.filter((id) => !checkIds.has(id))).toEqual([]);
    expect(fronts.filter((id, i) => fronts.indexOf(id) !== i)).toEqual([]);
    expect(smallTargetProofs().filter((id) => !ids.includes(id))).toEqual([]);
  });

  it("the allow-list names existing checks without a self-test, each with a reason", () => {
    for (const [id, why] of Object.entries(NO_NEGATIVE_SELF_TEST)) {
      expect(ids, id).toContain(id);
      expect(proven.has(id), `${id} has a negative self-test now: remove it from the allow-list`).toBe(false);
      expect(why.length, id).toBeGreaterThan(30);
    }
    expect(Object.keys(NO_NEGATIVE_SELF_TEST).length).toBeLessThanOrEqual(5);
  });
});
