// Conformance harness self-tests: checks without a negative self-test, each with the honest reason (spec §16: every
// check must be able to fail). Keep it short — the goal is a broken target per check; coverage.test.ts enforces both.

export const NO_NEGATIVE_SELF_TEST: Record<string, string> = {
  "adv/participant/canonical-json":
    "needs an instance that computes event IDs over non-JCS bytes; the broken fronts only change what the instance answers, not what it signs and sends to the fake peer (an outbound relay holding the instance's key would)",
};
