// Conformance harness self-tests: the run of leaf bugs — every planted bug fails exactly the check it names and every
// other check passes against the reference instances behind the broken fronts.
import { describe, expect, it } from "vitest";
import { surprisesOf } from "../../tests/support/self-tests/broken-run.ts";
import { BROKEN_RUNS } from "../../tests/support/self-tests/negative-runs.ts";
import { declaresProofs } from "../../tests/support/self-tests/proofs.ts";

declaresProofs(import.meta.url, BROKEN_RUNS.filter((r) => r.only === undefined).flatMap((r) => r.faults.map((f) => f.breaks)));

describe("broken targets: leaf bugs", () => {
  for (const run of BROKEN_RUNS.filter((r) => r.only === undefined)) {
    it(run.title, async () => expect(await surprisesOf(run)).toEqual([]), 180_000);
  }
});
