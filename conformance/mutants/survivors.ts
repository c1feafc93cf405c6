// Mutation testing of the conformance harness: mutants that survive because no black-box run can observe them, each
// with the reason (like checks/exclusions.ts). They are printed, and kept out of the score; one that gets killed is a
// stale entry and fails the run. Anything a harness could observe does not belong here: it needs a check.
import type { ExclusionKind } from "../checks/exclusions.ts";

export type SurvivorKind = "equivalent" | Extract<ExclusionKind, "retention" | "timing" | "environment">;

export interface AllowedSurvivor {
  kind: SurvivorKind;
  reason: string;
}

export const SURVIVOR_KIND_TEXT: Record<SurvivorKind, string> = {
  equivalent: "no input distinguishes the mutant from the reference: it computes the same answers",
  retention: "differs only after a retention period of hours; one run lasts seconds",
  timing: "differs only for timeouts of 30 s or more, beyond the run's budget",
  environment: "differs only under a fault or network position the loopback harness cannot create",
};

const s = (kind: SurvivorKind, reason: string): AllowedSurvivor => ({ kind, reason });

export const ALLOWED_SURVIVORS: Record<string, AllowedSurvivor> = {
  "key/lenient-point-decoding": s("equivalent",
    "the only non-canonical encodings (y ≥ p, i.e. y < 19, and x = 0 with the sign bit) are of small-order points or of no point, and the small-order check that follows refuses them all (exclusions.ts KEY-18)"),
  "sign/s-range-unchecked": s("equivalent",
    "OpenSSL (node:crypto) refuses S ≥ L itself (measured: a valid signature with S + L does not verify), so the reference's own check is a second guard that no input reaches"),
  "sign/s-range-off-by-one": s("equivalent", "S = L is refused by OpenSSL like any S ≥ L, whatever the reference's own check says"),
  "call/timeout-no-ceiling": s("timing", "only a tool that runs longer than 30 s shows the missing ceiling; the conformance profile's tools answer at once"),
  "call/results-kept-one-minute": s("retention", "a call outcome disappears after a minute instead of 24 h; pruning runs at most once a minute, and a run lasts seconds"),
  "ping/status-always-ok": s("environment", "needs a component of the instance under test to be down; the harness cannot stop vikunja inside it"),
  "store/synchronous-off": s("environment", "only an operating-system crash or power loss loses unsynced pages; SIGKILL of the process (the durability phase) does not"),
  "call/interrupted-not-recovered": s("environment",
    "needs a SIGKILL while a call's tool is still running; the profile's vikunja tools answer within a millisecond, so no kill lands inside one (exclusions.ts CALL-23; reference-impl/roshumba/router.test.ts covers the reference: a call left `started` by a crash is answered 502 on retry)"),
  "edge/control-not-loopback-only": s("environment", "the harness reaches the Control API from loopback only; a non-loopback caller needs another host"),
};
