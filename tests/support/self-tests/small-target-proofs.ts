// Conformance harness self-tests: the broken small targets of checks.test.ts as data — the fake peer playing an
// instance (ReceiverFaults), the small instance and the small hub — each naming the checks it must make fail.
import type { ReceiverFaults } from "../../../conformance/fake-peer.ts";
import type { InstanceFaults } from "../harness-self-test.ts";
import type { HubFaults } from "../small-hub.ts";

/** The fake peer playing an instance with receiver bugs; every listed check fails against it. */
export const PEER_FAULT_PROOFS: Array<{ bug: string; faults: ReceiverFaults; fails: string[] }> = [
  { bug: "skips signature verification (SIGN-33)", faults: { ignoreAuth: ["SMCP_BAD_SIGNATURE"] }, fails: ["adv/sign/bad-signature", "adv/sign/body-bound", "adv/sign/uri-bound", "adv/sign/method-bound"] },
  { bug: "checks the signature before the timestamp (SIGN-28)", faults: { rewriteErrcode: { SMCP_BAD_TIMESTAMP: "SMCP_BAD_SIGNATURE" } }, fails: ["adv/sign/check-order"] },
  { bug: "accepts requests in its own name (SIGN-43)", faults: { ignoreAuth: ["SMCP_UNKNOWN_KEY"] }, fails: ["adv/sign/own-origin"] },
  { bug: "normalises destinations, e.g. drops :443 (NAME-03)", faults: { ignoreAuth: ["SMCP_WRONG_DESTINATION"] }, fails: ["adv/sign/destination-byte-exact"] },
  { bug: "accepts S ≥ L, i.e. skips §4.4 signature checks (KEY-21)", faults: { ignoreAuth: ["SMCP_BAD_SIGNATURE"] }, fails: ["adv/sign/s-not-reduced"] },
  { bug: "accepts replays (SIGN-38)", faults: { ignoreAuth: ["SMCP_REPLAY"] }, fails: ["adv/sign/replay"] },
  { bug: "ignores the timestamp window (SIGN-25)", faults: { ignoreAuth: ["SMCP_BAD_TIMESTAMP"] }, fails: ["adv/sign/stale-ts", "adv/sign/future-ts"] },
  { bug: "accepts unknown keys (SIGN-32)", faults: { ignoreAuth: ["SMCP_UNKNOWN_KEY"] }, fails: ["adv/sign/unknown-key"] },
  { bug: "answers a wrong code for grammar failures (SIGN-06)", faults: { rewriteErrcode: { SMCP_UNAUTHORIZED: "SMCP_BAD_SIGNATURE" } }, fails: ["adv/sign/unsigned", "adv/sign/header-grammar"] },
  { bug: "answers a wrong code for wrong destinations (SIGN-31)", faults: { rewriteErrcode: { SMCP_WRONG_DESTINATION: "SMCP_UNAUTHORIZED" } }, fails: ["adv/sign/wrong-destination"] },
  { bug: "answers a wrong code for oversized bodies (SIGN-30)", faults: { rewriteErrcode: { SMCP_TOO_LARGE: "SMCP_INVALID" } }, fails: ["adv/limits/too-large"] },
  { bug: "answers a wrong code for origin mismatches (SIGN-35)", faults: { rewriteErrcode: { SMCP_ORIGIN_MISMATCH: "SMCP_FORBIDDEN" } }, fails: ["adv/sign/origin-mismatch"] },
  { bug: "answers a wrong code for bad JSON (ERR-02)", faults: { rewriteErrcode: { SMCP_BAD_JSON: "SMCP_INVALID" } }, fails: ["adv/http/bad-json"] },
];

/** Checks whose broken target checks.test.ts builds by hand (one test each, named after the check). */
export const HAND_BUILT_PROOFS = {
  /** The fake peer answers a schema-invalid ping (instance-invalid, not a harness error). */
  invalidPing: "adv/sign/baseline",
  /** The fake peer has no rate limiter. */
  noRateLimiter: "adv/limits/rate-limited",
  /** One txn_id recorded with two different bodies. */
  txnIdReused: "adv/final/requests-to-fake-peer-valid",
} as const;

/** The small instance (tests/support/harness-self-test.ts) with a bug; `detail` is what the failure must say. */
export const INSTANCE_FAULT_PROOFS: Array<{ check: string; bug: string; faults: InstanceFaults; aliceFaults?: InstanceFaults; options?: { latencyCalls: number; latencyP99Ms: number }; detail?: RegExp }> = [
  { check: "sc/events/same-order", bug: "bob reorders events", faults: { reverseEvents: true }, detail: /not a gap-free chain|different events/ },
  { check: "sc/events/same-order", bug: "bob loses an event", faults: { dropSeq: 3 } },
  { check: "adv/calls/duplicate-call-id@bob", bug: "a repeated call_id runs the tool again", faults: { reExecuteCalls: true }, detail: /ran more than once|another result/ },
  { check: "sc/latency/direct-calls", bug: "alice is slow against a low bound", faults: {}, aliceFaults: { callDelayMs: 25 }, options: { latencyCalls: 5, latencyP99Ms: 20 } },
];

/** The small instance as participant storing whatever the fake hub sends (no event checks). */
export const ACCEPT_ANY_EVENT_FAILS = ["adv/hub/bad-signature", "adv/hub/mismatched-event-id", "adv/hub/equivocation", "adv/hub/null-prev-event", "adv/hub/undefined-purpose"];

/** The small hub (tests/support/small-hub.ts) with a delivery bug; `after` checks run first and must pass (they record what it reads). */
export const HUB_FAULT_PROOFS: Array<{ check: string; faults: HubFaults; after?: string[] }> = [
  { check: "adv/delivery/one-in-flight", faults: { parallel: true } },
  { check: "adv/delivery/retry-identical", faults: { noRetry: true } },
  { check: "adv/delivery/retry-identical", faults: { retryAsNew: true } },
  { check: "adv/delivery/honours-429", faults: { ignoreRetryAfter: true } },
  { check: "adv/delivery/no-resend-after-4xx", faults: { resend4xx: true } },
  { check: "adv/delivery/unknown-errcode", faults: { noRetry: true } },
  { check: "adv/delivery/batching", faults: { noBatching: true }, after: ["adv/delivery/one-in-flight"] },
];

/** Every check ID (without @instance) some small target proves can fail. */
export function smallTargetProofs(): string[] {
  return [
    ...PEER_FAULT_PROOFS.flatMap((p) => p.fails),
    ...Object.values(HAND_BUILT_PROOFS),
    ...INSTANCE_FAULT_PROOFS.map((p) => p.check),
    ...ACCEPT_ANY_EVENT_FAILS,
    ...HUB_FAULT_PROOFS.map((p) => p.check),
  ].map((id) => id.replace(/@(alice|bob)$/, ""));
}
