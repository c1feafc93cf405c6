// Mutation testing of the conformance harness: what one harness run against a mutated reference means — killed,
// survived, error or timeout — and the score over a whole catalogue (issue 11).

/** The part of a harness check record (`conformance/cli.ts run --json`) the classification reads. */
export interface CheckRecord {
  id: string;
  status: string;
  category?: string;
  expectation?: string;
  details?: string[];
}

/** What a finished harness process left behind. */
export interface HarnessRun {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** The parsed `--json` report, when the harness wrote one. */
  report?: { checks?: CheckRecord[] };
  /** The last lines the harness printed (for errors). */
  outputTail: string;
}

export type Status = "killed" | "survived" | "error" | "timeout";

export interface Outcome {
  status: Status;
  /** Checks that failed (status fail), as `id` — the checks that killed the mutant. */
  killers: string[];
  /** Checks that were not testable because a prerequisite failed (a consequence, listed for the report). */
  notTestable: number;
  /** Checks that failed only on the unmutated baseline too (unreliable here, never counted as a kill). */
  ignored: string[];
  /** Why it is an error or a timeout, or what else is worth knowing. */
  detail?: string;
  /** The first failure's message, for the console. */
  firstFailure?: string;
  /** Errors and timeouts: the end of each instance log the harness kept (the scratch copy holding them is deleted). */
  instanceLogs?: Record<string, string>;
}

/**
 * Killed: a check failed (and not one that fails on the unmutated baseline too). Survived: the run completed and
 * every check passed. Error: the harness could not run (exit 2: the mutated instance did not build or start), wrote no
 * report, or failed only with harness errors. Timeout: the runner stopped it; neither a kill nor a survivor.
 */
export function classify(run: HarnessRun, baselineFailing: ReadonlySet<string> = new Set()): Outcome {
  const base = { killers: [], notTestable: 0, ignored: [] };
  if (run.timedOut) return { ...base, status: "timeout", detail: `stopped after the per-mutant time limit; ${lastLine(run.outputTail)}` };
  if (run.exitCode === 2) return { ...base, status: "error", detail: `harness exit 2 (nothing was checked): ${lastLine(run.outputTail)}` };
  const checks = run.report?.checks;
  if (!Array.isArray(checks)) {
    return { ...base, status: "error", detail: `no JSON report (exit ${run.exitCode ?? run.signal}): ${lastLine(run.outputTail)}` };
  }
  const failed = checks.filter((c) => c.status === "fail" && c.expectation !== "expected-failure");
  const harnessErrors = failed.filter((c) => c.category === "harness-error");
  const real = failed.filter((c) => c.category !== "harness-error");
  const killers = real.filter((c) => !baselineFailing.has(c.id)).map((c) => c.id);
  const ignored = real.filter((c) => baselineFailing.has(c.id)).map((c) => c.id);
  const notTestable = checks.filter((c) => c.status === "not-testable").length;
  const firstFailure = real.find((c) => !baselineFailing.has(c.id))?.details?.[0];
  if (killers.length > 0) return { status: "killed", killers, notTestable, ignored, ...(firstFailure ? { firstFailure } : {}) };
  if (harnessErrors.length > 0) {
    return { status: "error", killers, notTestable, ignored, detail: `only harness errors: ${harnessErrors.map((c) => c.id).join(", ")}` };
  }
  if (run.exitCode !== 0 && ignored.length === 0) {
    return { status: "error", killers, notTestable, ignored, detail: `harness exit ${run.exitCode ?? run.signal} without a failed check: ${lastLine(run.outputTail)}` };
  }
  return { status: "survived", killers, notTestable, ignored, ...(ignored.length > 0 ? { detail: `only checks that fail on the baseline too failed: ${ignored.join(", ")}` } : {}) };
}

export interface Tally {
  killed: number;
  survived: number;
  /** Survivors on the allow-list (no black-box run can observe them): outside the score. */
  allowed: number;
  error: number;
  timeout: number;
  stale: number;
  /** killed / (killed + survived), survivors on the allow-list not counted; null when nothing was measured. */
  score: number | null;
}

export function tally(outcomes: readonly { status: Status; allowListed: boolean }[], stale: number): Tally {
  const t = { killed: 0, survived: 0, allowed: 0, error: 0, timeout: 0, stale };
  for (const o of outcomes) {
    if (o.status === "survived" && o.allowListed) t.allowed++;
    else t[o.status]++;
  }
  const measured = t.killed + t.survived;
  return { ...t, score: measured === 0 ? null : t.killed / measured };
}

/** Whether the run passes: nothing stale, and a score at or above the bar (a run that measured nothing does not pass). */
export function verdict(t: Tally, minScore: number, staleAllowList: number): { ok: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (t.stale > 0) reasons.push(`${t.stale} stale mutant(s): re-target them to the current code`);
  if (staleAllowList > 0) reasons.push(`${staleAllowList} allow-listed survivor(s) were killed: remove them from the allow-list`);
  if (t.score === null) reasons.push("no mutant was measured (every one stale, error or timeout)");
  else if (t.score < minScore) reasons.push(`score ${formatScore(t.score)} is below --min-score ${formatScore(minScore)}`);
  return { ok: reasons.length === 0, reasons };
}

export function formatScore(score: number | null): string {
  return score === null ? "n/a" : `${(score * 100).toFixed(1)}%`;
}

function lastLine(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  return lines.at(-1)?.slice(0, 300) ?? "(no output)";
}
