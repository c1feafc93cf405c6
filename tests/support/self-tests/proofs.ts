// Conformance harness self-tests: the one index of negative self-tests (spec §16, every check must be able to fail) —
// for each self-test file, the check IDs it proves able to fail; coverage.test.ts holds every check of the registry to it.
import { expect, it } from "vitest";
import { BROKEN_RUNS } from "./negative-runs.ts";
import { smallTargetProofs } from "./small-target-proofs.ts";

/** A check ID without its `@alice` / `@bob` instance suffix: a proof against either instance proves the check. */
export const baseId = (id: string): string => id.replace(/@(alice|bob)$/, "");

const faultsOf = (leaf: boolean): string[] => BROKEN_RUNS.filter((r) => (r.only === undefined) === leaf).flatMap((r) => r.faults.map((f) => f.breaks));

/**
 * Self-test file (path from the repository root) → the checks it makes FAIL against a broken target. A file listed
 * here calls `declaresProofs(import.meta.url, <the IDs its failing cases assert>)`, which fails when the two differ.
 * The broken-front runs and checks.test.ts take theirs from the data they run (negative-runs.ts, small-target-proofs.ts).
 */
export const PROOFS: Record<string, readonly string[]> = {
  "conformance/self-tests/negative-leaves.test.ts": faultsOf(true),
  "conformance/self-tests/negative-prerequisites.test.ts": faultsOf(false),
  "conformance/checks.test.ts": smallTargetProofs(),
  "conformance/identity-checks.test.ts": [
    "adv/identity/nonce-per-origin", "adv/identity/membership-per-origin", "adv/identity/txn-id-per-origin", "adv/identity/call-id-per-origin",
    "adv/identity/rate-bucket-per-origin", "adv/setup/second-identity", "adv/setup/second-identity-member", "adv/hub/unknown-type-and-members",
    "adv/delivery/retry-identical",
  ],
  "conformance/call-rights.test.ts": ["adv/calls/self-hubbed-co-member"],
  "conformance/forwarding-checks.test.ts": [
    "fwd/dest/executes-once", "fwd/dest/tampered-refused", "fwd/dest/hops-and-time", "fwd/relay/through",
    "fwd/origin/result-authenticated", "fwd/intermediate/replay-and-tamper-detected", "fwd/dest/fake-destination",
  ],
  "conformance/judith-checks.test.ts": [
    "judith/setup/channel", "judith/run/cross-instance", "judith/run/failing-step", "judith/run/step-timeout", "judith/run/wait-and-cancel",
    "judith/bounds", "judith/dur/resume-after-restart",
  ],
  "conformance/v11-checks.test.ts": [
    "v11/versions/no-leave-toward-old-hub", "v11/sender-sig/signs-submissions", "v11/sender-sig/forged-refused", "v11/sender-sig/hub-refuses",
    "v11/leave/hub-sequences", "v11/leave/participant-leaves",
  ],
  "conformance/poison-data.test.ts": ["adv/txn/over-deep-data"],
  "conformance/hardening-checks.test.ts": [
    "adv/json/depth-limit", "adv/limits/refused-body-not-read", "adv/discovery/unmapped-loopback", "adv/http/missing-body", "adv/json/member-order",
    "adv/keys/key-validity", "adv/participant/invitee-before-join", "adv/http/after-bound", "adv/http/issue-paths", "adv/txn/own-channel-events",
    "adv/hub/headless-events", "adv/http/path-and-query", "adv/keys/private-files", "adv/removal/head-fresh",
  ],
  "conformance/durability.test.ts": [
    "dur/keys/unchanged", "dur/events/kept", "dur/channels/kept", "dur/queue/delivered", "dur/calls/outcome-kept", "dur/txn/results-kept",
    "dur/sign/replay-across-restart", "dur/restart", "dur/queue/pending-counted",
  ],
  "conformance/sharper-checks.test.ts": [
    "adv/batch/changed-redelivery", "adv/batch/events-are-items", "adv/batch/not-the-hub", "adv/batch/prev-link",
    "adv/batch/seq-one-with-prev", "adv/batch/unlinked-neighbour", "adv/calls/non-peer-forbidden",
    "adv/control/answer-of-another-call", "adv/control/call-held-after-429", "adv/control/hosts-and-peers",
    "adv/control/remote-auth-error-not-relayed", "adv/discovery/failure-cached", "adv/discovery/kept-without-max-age",
    "adv/discovery/lists-services", "adv/final/sender-nonces-random", "adv/http/any-content-coding",
    "adv/http/long-path-error", "adv/json/negative-unsafe-integer", "adv/json/safe-integer-bounds",
    "adv/json/surrogate-in-member-name", "adv/limits/too-large-chunked", "adv/lists/default-page",
    "adv/lists/tasks-in-id-order", "adv/removal/may-not-call", "adv/removal/no-heads-after-leave",
    "adv/replay/retained", "adv/sign/check-order", "adv/sign/header-grammar", "adv/txn/negative-non-canonical-data",
    "adv/window/edges", "ctl/auth-required",
  ],
  "conformance/profile-checks.test.ts": [
    "gail/setup/log-channel", "gail/forward/filtered-and-paged", "gail/secrets/never-leave", "gail/forward/bounded-and-invalid",
    "gail/bound/retention-counted", "gail/restart/outbox-kept",
    "kathy/setup/subscribed", "kathy/apply/opted-in-and-conflict-rule", "kathy/secrets/refused-at-publish", "kathy/restart/applied-kept",
  ],
  "conformance/tls.test.ts": [
    "adv/tls/untrusted-ca", "adv/tls/wrong-name", "adv/tls/expired", "adv/tls/redirect-untrusted",
    "adv/tls/endpoint-untrusted", "adv/tls/baseline", "adv/tls/redirect-followed", "adv/tls/https-endpoint",
  ],
};

const ROOT = new URL("../../../", import.meta.url).pathname;

/** The file key of a self-test module (`import.meta.url`): its path from the repository root. */
export function fileKey(moduleUrl: string): string {
  const path = new URL(moduleUrl).pathname;
  if (!path.startsWith(ROOT)) throw new Error(`${path} is not in the repository`);
  return path.slice(ROOT.length);
}

/** What PROOFS lists for a self-test module (base IDs, sorted); unknown modules list nothing. */
export function proofsOf(moduleUrl: string): string[] {
  return [...new Set((PROOFS[fileKey(moduleUrl)] ?? []).map(baseId))].sort();
}

/**
 * Registers one test in the calling self-test file: the checks its failing cases assert are exactly the ones PROOFS
 * lists for it — so the index cannot claim a proof the file does not make, nor the file make one the index omits.
 */
export function declaresProofs(moduleUrl: string, provenHere: Iterable<string>): void {
  it("proves able to fail exactly the checks tests/support/self-tests/proofs.ts lists for this file", () => {
    expect([...new Set([...provenHere].map(baseId))].sort()).toEqual(proofsOf(moduleUrl));
  });
}
