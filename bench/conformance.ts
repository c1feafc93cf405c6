// Benchmarks: wall time of a conformance run (figure 4) — the harness (conformance/cli.ts) against two local
// reference instances, run as a subprocess exactly as an operator would.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, removeScratch, scratchDir } from "./instances.ts";
import type { ConformanceResult, ConformanceRun } from "./results.ts";
import { summarise } from "./stats.ts";

export interface ConformanceOptions {
  /** Runs wanted; later runs are skipped when the first one took longer than `repeatBelowMs`. */
  runs: number;
  repeatBelowMs: number;
  timeoutMs: number;
}

const CLI = "bin/smcp-conformance.js";
/** What `npm start` runs: every check, every optional profile, the durability phase (instances killed and restarted). */
const ARGS = ["run", "--profile", "all"];

export async function benchConformance(opts: ConformanceOptions): Promise<ConformanceResult> {
  if (!existsSync(join(REPO, CLI))) return { status: "not run", reason: `${CLI} does not exist yet` };
  const root = scratchDir("conformance");
  const command = `node ${CLI} ${ARGS.join(" ")} --json <tmp>/report.json`;
  try {
    const runs: ConformanceRun[] = [];
    for (let i = 0; i < opts.runs; i++) {
      const run = await once(join(root, `report-${i}.json`), opts.timeoutMs);
      if (typeof run === "string") return { status: "not run", reason: run };
      runs.push(run);
      if (run.wall_ms > opts.repeatBelowMs) break;
    }
    return { status: "run", command, runs, wall_ms: summarise(runs.map((r) => r.wall_ms)) };
  } finally {
    removeScratch(root);
  }
}

/** One harness run; a string is why it could not be timed (it did not produce a report). */
function once(report: string, timeoutMs: number): Promise<ConformanceRun | string> {
  return new Promise((resolve) => {
    const t = performance.now();
    const child = spawn(process.execPath, [join(REPO, CLI), ...ARGS, "--json", report], { cwd: REPO, stdio: ["ignore", "ignore", "pipe"], detached: true });
    let stderr = "";
    child.stderr!.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
    // The harness and the instances it starts: stop the whole process group we created.
    const timer = setTimeout(() => child.pid && process.kill(-child.pid, "SIGTERM"), timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      resolve(`could not start the harness: ${err.message}`);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      const wall = performance.now() - t;
      if (signal) return resolve(`harness killed by ${signal} after ${Math.round(wall)} ms (timeout ${timeoutMs} ms)`);
      if (!existsSync(report)) return resolve(`harness exited with ${code} without writing a JSON report: ${stderr.trim().split("\n").slice(-3).join(" | ")}`);
      resolve({ wall_ms: wall, exit_code: code, summary: reportSummary(report) });
    });
  });
}

function reportSummary(file: string): ConformanceRun["summary"] {
  try {
    const s = (JSON.parse(readFileSync(file, "utf8")) as { summary?: { total?: unknown; pass?: unknown; fail?: unknown } }).summary;
    if (s && typeof s.total === "number" && typeof s.pass === "number" && typeof s.fail === "number") return { total: s.total, pass: s.pass, fail: s.fail };
  } catch {
    // The report is the harness's business; the wall time stands without its counts.
  }
  return undefined;
}
