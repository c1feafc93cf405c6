// Conformance harness: runs the selected checks in order (the two halves of a side-by-side check at once), turns every
// outcome into a result record, never skips silently.
import { SmcpError } from "../protocol/errors.ts";
import { CheckFailure, NotApplicable, type FailureCategory } from "./assert.ts";
import type { Check, CheckContext } from "./context.ts";
import { anyMatches, expectationFor, type ExpectedFailures, type Expectation, type Status } from "./selection.ts";
import type { WireEntry } from "./wire-log.ts";
import type { InboundRecord } from "./fake-peer.ts";

export interface CheckResult {
  id: string;
  name: string;
  requirements: string[];
  level: Check["level"];
  status: Status;
  /** For failures: whose fault, as far as the harness can tell. */
  category?: FailureCategory;
  duration_ms: number;
  expected?: string;
  actual?: string;
  details: string[];
  wire: WireEntry[];
  expectation: Expectation;
}

export interface RunOptions {
  only: string[];
  skip: string[];
  strict: boolean;
  expectedFailures: ExpectedFailures;
  /** Why a check cannot run in this deployment (e.g. it restarts an instance the harness cannot restart); excluded with that reason, never passed. */
  unavailable?: (check: Check) => string | undefined;
  /** Ceiling for one check, so that a hung instance fails a check instead of the run. */
  checkTimeoutMs?: number;
  onResult?: (r: CheckResult) => void;
}

interface Plan {
  run: Set<string>;
  excluded: Map<string, string>;
}

/** Works out which checks run: --only (plus their prerequisites, transitively), minus --skip, minus SHOULD unless --strict. */
export function plan(checks: Check[], opts: Pick<RunOptions, "only" | "skip" | "strict" | "unavailable">): Plan {
  const byId = new Map(checks.map((c) => [c.id, c]));
  const excluded = new Map<string, string>();
  const run = new Set<string>();
  const want = (c: Check): boolean => (opts.only.length === 0 ? true : anyMatches(opts.only, c.id));
  const add = (id: string): void => {
    const c = byId.get(id);
    if (!c || run.has(id) || anyMatches(opts.skip, id)) return;
    if (c.level === "SHOULD" && !opts.strict) return;
    if (opts.unavailable?.(c) !== undefined) return;
    run.add(id);
    c.prerequisites.forEach(add);
  };
  checks.filter(want).forEach((c) => add(c.id));
  for (const c of checks) {
    if (run.has(c.id)) continue;
    const unavailable = opts.unavailable?.(c);
    if (anyMatches(opts.skip, c.id)) excluded.set(c.id, "excluded by --skip");
    else if (unavailable !== undefined && (opts.only.length === 0 || anyMatches(opts.only, c.id))) excluded.set(c.id, unavailable);
    else if (c.level === "SHOULD" && !opts.strict) excluded.set(c.id, "SHOULD-level check: run with --strict");
    else excluded.set(c.id, "not selected by --only");
  }
  return { run, excluded };
}

export async function runChecks(checks: Check[], ctx: CheckContext, opts: RunOptions): Promise<CheckResult[]> {
  const p = plan(checks, opts);
  const results = new Map<string, CheckResult>();
  const out: CheckResult[] = [];
  const settle = (r: CheckResult): void => {
    r.expectation = expectationFor(r.id, r.status, opts.expectedFailures);
    results.set(r.id, r);
    out.push(r);
    opts.onResult?.(r);
  };
  const blockedBy = (check: Check): string | undefined => check.prerequisites.find((id) => results.get(id)?.status !== "pass");
  const runnable = (check: Check): boolean => p.run.has(check.id) && blockedBy(check) === undefined;
  for (let i = 0; i < checks.length; i++) {
    const check = checks[i]!;
    const mate = checks[i + 1];
    if (mate && halves(check, mate) && runnable(check) && runnable(mate)) {
      // Results are settled in list order, so the report reads the same as a run one check at a time.
      for (const r of await runSideBySide([check, mate], ctx, opts.checkTimeoutMs)) settle(r);
      i++;
      continue;
    }
    let r: CheckResult;
    if (!p.run.has(check.id)) {
      r = base(check, "excluded", 0, [p.excluded.get(check.id) ?? "excluded"]);
    } else {
      const blocked = blockedBy(check);
      r = blocked ? notTestable(check, blocked, results.get(blocked)) : await runOne(check, ctx, opts.checkTimeoutMs);
    }
    settle(r);
  }
  return out;
}

const ROLE_SUFFIX = /@(alice|bob)$/;

/** `X@alice` followed by `X@bob`, both declared side by side, neither needing the other. */
function halves(a: Check, b: Check): boolean {
  if (!a.sideBySide || !b.sideBySide || !a.id.endsWith("@alice") || !b.id.endsWith("@bob")) return false;
  return a.id.replace(ROLE_SUFFIX, "") === b.id.replace(ROLE_SUFFIX, "") && !b.prerequisites.includes(a.id) && !a.prerequisites.includes(b.id);
}

function notTestable(check: Check, prereq: string, result: CheckResult | undefined): CheckResult {
  const why = !result ? "is not defined" : result.status === "excluded" ? "was excluded" : "failed";
  const r = base(check, "not-testable", 0, [`not testable: prerequisite ${prereq} ${why}`]);
  r.category = "prerequisite";
  return r;
}

/** Runs one check with its own wire log; anything the fake peer found wrong in the instance's requests fails it. */
export async function runOne(check: Check, ctx: CheckContext, timeoutMs = 120_000): Promise<CheckResult> {
  ctx.recorder.rotate();
  ctx.fake.beginCheck(check.id);
  const done = await execute(check, ctx, timeoutMs);
  const problems = ctx.fake.takeProblems();
  return finish(check, done, ctx.recorder.rotate(), problems);
}

/**
 * Runs the @alice and @bob halves of one check at the same time, each with its own notes and wire log. What the
 * instances send the fake peer goes to the half of the instance that sent it; a problem in it fails that half (one
 * from neither instance fails both).
 */
async function runSideBySide(pair: Check[], ctx: CheckContext, timeoutMs = 120_000): Promise<CheckResult[]> {
  ctx.recorder.rotate();
  ctx.fake.beginCheck(pair.map((c) => c.id).join(" + "));
  const origins = pair.map((c) => (c.id.endsWith("@alice") ? ctx.alice.name : ctx.bob.name));
  const logs = origins.map((origin) => ctx.recorder.capture((e) => e.dir === "in" && e.via.startsWith(`${origin}->`)));
  let done: Done[];
  try {
    done = await Promise.all(pair.map((c, i) => logs[i]!.run(() => execute(c, ctx, timeoutMs))));
  } finally {
    logs.forEach((l) => l.close());
  }
  const problems = ctx.fake.takeProblems(logs.flatMap((l) => l.log));
  // Between the checks of a pair there is no other traffic, but a late entry outside both logs is kept, in both.
  const rest = ctx.recorder.rotate();
  return pair.map((c, i) => {
    const mine = problems.filter((p) => p.origin === origins[i] || !origins.includes(p.origin ?? ""));
    return finish(c, done[i]!, [...logs[i]!.log, ...rest], mine);
  });
}

interface Done {
  failure: unknown;
  duration: number;
  details: string[];
}

/** Runs the check against a view of the context with its own `note`, bounded by `timeoutMs`. */
async function execute(check: Check, ctx: CheckContext, timeoutMs: number): Promise<Done> {
  const details: string[] = [];
  const own: CheckContext = { ...ctx, note: (line) => void details.push(line) };
  const started = performance.now();
  let failure: unknown;
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CheckFailure(`check did not finish within ${timeoutMs} ms`, "an answer", "no answer")), timeoutMs);
    });
    await Promise.race([check.run(own), timeout]);
  } catch (err) {
    failure = err;
  } finally {
    clearTimeout(timer);
  }
  return { failure, duration: Math.round(performance.now() - started), details };
}

function finish(check: Check, done: Done, wire: WireEntry[], problems: InboundRecord[]): CheckResult {
  const r = base(check, "pass", done.duration, done.details);
  r.wire = wire;
  if (done.failure !== undefined) describeFailure(r, done.failure);
  else if (problems.length > 0) {
    r.status = "fail";
    r.category = "instance-invalid";
    r.expected = "every request the instance sends to the fake peer is expected, authentic and schema-valid";
    r.actual = problems.map((p) => `${p.method} ${p.path} from ${p.origin ?? "?"}: ${p.problems.join("; ")}`).join("\n");
  }
  return r;
}

function describeFailure(r: CheckResult, err: unknown): void {
  if (err instanceof NotApplicable) {
    r.status = "excluded";
    r.details.unshift(err.message);
    return;
  }
  r.status = "fail";
  if (err instanceof CheckFailure) {
    // A check that cannot observe its requirement in this deployment says so with category "prerequisite".
    if (err.category === "prerequisite") r.status = "not-testable";
    r.category = err.category;
    r.details.unshift(err.message);
    r.expected = err.expected;
    r.actual = err.actual;
  } else if (err instanceof SmcpError && err.errcode === "SMCP_PEER_UNREACHABLE") {
    r.category = "requirement";
    r.details.unshift(err.message);
    r.expected = "an HTTP answer";
    r.actual = "connection failed";
  } else {
    r.category = "harness-error";
    r.details.unshift(`harness error: ${(err as Error)?.stack ?? String(err)}`);
  }
}

function base(check: Check, status: Status, duration: number, details: string[]): CheckResult {
  return {
    id: check.id,
    name: check.name,
    requirements: check.requirements,
    level: check.level,
    status,
    duration_ms: duration,
    details,
    wire: [],
    expectation: "none",
  };
}
