// Conformance harness self-tests: every check ID of the registry has a negative self-test (a file of tests/support/self-tests/proofs.ts
// proves it able to fail) or an allow-list entry with a reason — never both, never stale, never an unknown check.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { allChecks } from "../checks/index.ts";
import { NO_NEGATIVE_SELF_TEST } from "../../tests/support/self-tests/allow-list.ts";
import { BROKEN_RUNS } from "../../tests/support/self-tests/negative-runs.ts";
import { baseId, PROOFS } from "../../tests/support/self-tests/proofs.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

describe("negative self-test coverage", () => {
  const checkIds = new Set(allChecks().map((c) => c.id));
  const ids = [...new Set([...checkIds].map(baseId))];
  const proven = new Set(Object.values(PROOFS).flat().map(baseId));

  it("every check has a negative self-test or an allow-list entry with a reason", () => {
    const missing = ids.filter((id) => !proven.has(id) && !(id in NO_NEGATIVE_SELF_TEST));
    expect(missing, "prove these able to fail in a self-test file and list them under it in tests/support/self-tests/proofs.ts (conformance/README.md, adding a check)").toEqual([]);
  });

  it("every proof names a check that exists", () => {
    const unknown = Object.entries(PROOFS).flatMap(([file, listed]) => listed.filter((id) => !ids.includes(baseId(id))).map((id) => `${file}: ${id}`));
    expect(unknown).toEqual([]);
  });

  it("every file of the index exists and asserts its entry with declaresProofs(import.meta.url, …)", () => {
    for (const file of Object.keys(PROOFS)) {
      expect(existsSync(ROOT + file), file).toBe(true);
      expect(readFileSync(ROOT + file, "utf8"), file).toMatch(/declaresProofs\(import\.meta\.url, /);
    }
  });

  it("each broken-front fault names a different check instance (one bug, one check)", () => {
    const fronts = BROKEN_RUNS.flatMap((r) => r.faults.map((f) => f.breaks));
    expect(fronts.filter((id) => !checkIds.has(id))).toEqual([]);
    expect(fronts.filter((id, i) => fronts.indexOf(id) !== i)).toEqual([]);
  });

  it("the allow-list names existing checks without a self-test, each with a reason, and stays short", () => {
    for (const [id, why] of Object.entries(NO_NEGATIVE_SELF_TEST)) {
      expect(ids, id).toContain(id);
      expect(proven.has(id), `${id} has a negative self-test now: remove it from the allow-list`).toBe(false);
      expect(why.length, id).toBeGreaterThan(30);
    }
    expect(Object.keys(NO_NEGATIVE_SELF_TEST).length).toBeLessThanOrEqual(5);
  });
});
