// Conformance harness self-tests: the runs of bugs in checks others rely on — each fails exactly its named checks;
// only those and their prerequisites run (a separate file, so that vitest runs it beside the leaf run).
import { describe, expect, it } from "vitest";
import { surprisesOf } from "../../tests/support/self-tests/broken-run.ts";
import { BROKEN_RUNS } from "../../tests/support/self-tests/negative-runs.ts";
import { declaresProofs } from "../../tests/support/self-tests/proofs.ts";

declaresProofs(import.meta.url, BROKEN_RUNS.filter((r) => r.only !== undefined).flatMap((r) => r.faults.map((f) => f.breaks)));

describe("broken targets: prerequisite bugs", () => {
  for (const run of BROKEN_RUNS.filter((r) => r.only !== undefined)) {
    it(run.title, async () => expect(await surprisesOf(run)).toEqual([]), 120_000);
  }
});
