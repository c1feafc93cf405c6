// Conformance harness self-tests: checks without a negative self-test, each with the honest reason (spec §16: every
// check must be able to fail). Keep it short — the goal is a broken target per check; coverage.test.ts enforces both.

export const NO_NEGATIVE_SELF_TEST: Record<string, string> = {};
