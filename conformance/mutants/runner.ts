// Mutation testing of the conformance harness: runs the (unmutated) harness against two instances of each mutated
// reference, several mutants at once, each in its own scratch copy and process group, bounded in time (issue 11).
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { classify, type HarnessRun, type Outcome } from "./classify.ts";
import type { Mutant } from "./mutant.ts";
import { INSTANCE_SOURCES, makeScratch } from "./scratch.ts";

/** How to start the harness against the instance sources in `sourceDir`, writing its JSON report to `jsonFile`. */
export interface HarnessInvocation {
  command: string;
  args: string[];
  cwd: string;
  env?: NodeJS.ProcessEnv;
}
export type HarnessCommand = (sourceDir: string, jsonFile: string, mutant: Mutant | null) => HarnessInvocation;

export interface RunnerOptions {
  repo: string;
  harness: HarnessCommand;
  jobs: number;
  timeoutMs: number;
  /** Parent directory of the scratch copies. */
  workDir: string;
  /** Folders and files copied into each scratch copy. */
  entries?: readonly string[];
  /** Keep each scratch copy (and what the harness left in it) for debugging. */
  keep?: boolean;
  /** Checks that fail on the unmutated baseline: never counted as kills. */
  baselineFailing?: ReadonlySet<string>;
  onResult?: (r: MutantResult) => void;
}

export interface MutantResult extends Outcome {
  id: string;
  durationMs: number;
  /** Where the scratch copy was kept (--keep). */
  kept?: string;
}

const OUTPUT_TAIL_BYTES = 16 * 1024;

/** Process groups of the harnesses running now, so that an interrupted runner leaves no instance behind. */
const running = new Set<number>();

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // the group is already gone
  }
}

/** Kills every running harness with its instances (SIGINT/SIGTERM of the runner). */
export function stopAllHarnesses(): void {
  for (const pid of running) signalGroup(pid, "SIGKILL");
  running.clear();
}

/** Runs one harness process in its own process group; on the time limit the group gets SIGTERM, then SIGKILL. */
export function runHarness(inv: HarnessInvocation, jsonFile: string, timeoutMs: number): Promise<HarnessRun> {
  return new Promise((resolve) => {
    const child = spawn(inv.command, inv.args, { cwd: inv.cwd, env: inv.env ?? process.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let tail = "";
    const keep = (chunk: Buffer): void => {
      tail = (tail + chunk.toString("utf8")).slice(-OUTPUT_TAIL_BYTES);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    const pid = child.pid;
    if (pid !== undefined) running.add(pid);
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      if (pid !== undefined) signalGroup(pid, "SIGTERM");
      killTimer = setTimeout(() => pid !== undefined && signalGroup(pid, "SIGKILL"), 10_000);
    }, timeoutMs);
    const finish = (exitCode: number | null, signal: string | null): void => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      if (pid !== undefined) {
        signalGroup(pid, "SIGKILL"); // whatever the harness left running in its group (its instances, their components)
        running.delete(pid);
      }
      resolve({ exitCode, signal, timedOut, report: readReport(jsonFile), outputTail: tail });
    };
    child.once("error", (err) => {
      keep(Buffer.from(`could not start the harness: ${err.message}\n`));
      finish(null, null);
    });
    child.once("close", (code, signal) => finish(code, signal));
  });
}

function readReport(file: string): HarnessRun["report"] {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as HarnessRun["report"];
  } catch {
    return undefined;
  }
}

/** The unmutated reference through the same path, so that flaky or failing checks are known before any mutant runs. */
export async function runBaseline(opts: Pick<RunnerOptions, "repo" | "harness" | "timeoutMs" | "workDir">): Promise<{ run: HarnessRun; outcome: Outcome }> {
  mkdirSync(opts.workDir, { recursive: true });
  const jsonFile = join(opts.workDir, "baseline.json");
  const run = await runHarness(opts.harness(opts.repo, jsonFile, null), jsonFile, opts.timeoutMs);
  return { run, outcome: classify(run) };
}

/** Runs one mutant in a fresh scratch copy, which is deleted afterwards unless `keep`. */
export async function runMutant(m: Mutant, opts: RunnerOptions): Promise<MutantResult> {
  const started = Date.now();
  let scratch;
  try {
    scratch = makeScratch(opts.repo, opts.workDir, m, opts.entries ?? INSTANCE_SOURCES);
  } catch (err) {
    return { id: m.id, status: "error", killers: [], notTestable: 0, ignored: [], detail: `scratch copy: ${(err as Error).message}`, durationMs: Date.now() - started };
  }
  try {
    const jsonFile = join(scratch.dir, "harness-report.json");
    const run = await runHarness(opts.harness(scratch.dir, jsonFile, m), jsonFile, opts.timeoutMs);
    const outcome = classify(run, opts.baselineFailing);
    // The instance logs the harness kept are inside the copy, which is about to go: keep their end with the result.
    if (outcome.status === "error" || outcome.status === "timeout") outcome.instanceLogs = instanceLogTails(scratch.dir);
    return { id: m.id, ...outcome, durationMs: Date.now() - started, ...(opts.keep ? { kept: scratch.dir } : {}) };
  } finally {
    if (!opts.keep) scratch.remove();
  }
}

const LOG_TAIL_BYTES = 2048;

/** The last lines of each instance log the harness left in `dir` (it keeps them when a run fails). */
function instanceLogTails(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).filter((f) => f.endsWith(".log"))) out[name] = readFileSync(join(dir, name), "utf8").slice(-LOG_TAIL_BYTES);
  return out;
}

/** Runs every mutant, `jobs` at a time; results come back in catalogue order. */
export async function runMutants(mutants: readonly Mutant[], opts: RunnerOptions): Promise<MutantResult[]> {
  mkdirSync(opts.workDir, { recursive: true });
  const results: MutantResult[] = new Array(mutants.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < mutants.length; i = next++) {
      results[i] = await runMutant(mutants[i]!, opts);
      opts.onResult?.(results[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.jobs, mutants.length)) }, worker));
  return results;
}
