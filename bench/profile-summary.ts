// Benchmarks: where the time goes — summarises the V8 CPU profiles that `SMCP_BENCH_PROFILE=DIR npm run bench` writes
// (one per instance process) as self time by role (hub, participant, alice, bob), by source file and by function,
// counting only the samples inside the measured windows the bench recorded. "Busy" is every non-idle sample: it
// includes time blocked in a synchronous system call (writev, fsync), so it can exceed CPU time.
// Usage: npx tsx bench/profile-summary.ts DIR [--top N]
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { REPO } from "./instances.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Measured windows in CLOCK_MONOTONIC µs (bench/instances.ts recordProfileWindow); empty means the whole profile. */
type Windows = Array<[number, number]>;

/** Self time (µs) per key, where the key is what a sample's leaf frame is attributed to. */
type Tally = Map<string, number>;

/** `reference-impl/naomi/publish.ts`, `node:internal/...` collapsed to `node`, a dependency to its package name. */
function fileOf(url: string): string {
  if (url === "") return "(native / VM)";
  if (url.startsWith("node:")) return "node";
  const path = url.startsWith("file://") ? new URL(url).pathname : url;
  if (path.includes("/.cache/smcp-bundle/")) return "(instance bundle: profile with SMCP_NO_BUNDLE=1 to see its files)";
  const dep = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (dep) return `dep:${dep[1]}`;
  return path.startsWith(REPO) ? relative(REPO, path) : path;
}

function add(t: Tally, key: string, us: number): void {
  t.set(key, (t.get(key) ?? 0) + us);
}

/** Self time per file and per function of one profile, idle excluded; the total is busy CPU time in µs. */
function tally(profile: CpuProfile, windows: Windows): { busyUs: number; byFile: Tally; byFunction: Tally } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFile: Tally = new Map();
  const byFunction: Tally = new Map();
  let busyUs = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id)?.callFrame;
    const us = profile.timeDeltas[i] ?? 0;
    at += us;
    if (windows.length > 0 && !windows.some(([a, b]) => at >= a && at <= b)) return;
    if (!frame || frame.functionName === "(idle)") return;
    busyUs += us;
    const file = frame.functionName === "(garbage collector)" ? "(garbage collector)" : fileOf(frame.url);
    add(byFile, file, us);
    add(byFunction, `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}`, us);
  });
  return { busyUs, byFile, byFunction };
}

function windows(dir: string): Windows {
  const file = join(dir, "windows.jsonl");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").split("\n").filter(Boolean).map((line) => {
    const w = JSON.parse(line) as { start_us: number; end_us: number };
    return [w.start_us, w.end_us];
  });
}

function roles(dir: string): Map<number, string> {
  const index = join(dir, "processes.jsonl");
  const out = new Map<number, string>();
  if (!existsSync(index)) return out;
  for (const line of readFileSync(index, "utf8").split("\n").filter(Boolean)) {
    const { pid, name } = JSON.parse(line) as { pid: number; name: string };
    out.set(pid, /^p\d+\./.test(name) ? "participant" : name.split(".")[0]!);
  }
  return out;
}

function main(): void {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { top: { type: "string" } } });
  const dir = positionals[0];
  if (!dir) throw new Error("usage: npx tsx bench/profile-summary.ts DIR [--top N]");
  const top = Number(values.top ?? 15);
  const pidRole = roles(dir);
  const measured = windows(dir);
  process.stdout.write(measured.length ? `Samples inside ${measured.length} measured window(s) only (set-up and warm-up left out).\n\n` : "Whole profiles (no measured windows recorded).\n\n");
  const byRole = new Map<string, { processes: number; busyUs: number; byFile: Tally; byFunction: Tally }>();
  for (const f of readdirSync(dir).filter((x) => x.endsWith(".cpuprofile"))) {
    const pid = Number(f.split(".")[3]);
    const role = pidRole.get(pid) ?? `pid ${pid}`;
    const t = tally(JSON.parse(readFileSync(join(dir, f), "utf8")) as CpuProfile, measured);
    if (t.busyUs === 0) continue; // worker threads that only idled
    const r = byRole.get(role) ?? { processes: 0, busyUs: 0, byFile: new Map(), byFunction: new Map() };
    r.processes++;
    r.busyUs += t.busyUs;
    for (const [k, v] of t.byFile) add(r.byFile, k, v);
    for (const [k, v] of t.byFunction) add(r.byFunction, k, v);
    byRole.set(role, r);
  }
  for (const [role, r] of byRole) {
    const pct = (us: number) => `${((100 * us) / r.busyUs).toFixed(1)}%`;
    const rows = (t: Tally) => [...t].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => `| ${pct(v)} | ${k} |`);
    process.stdout.write([
      `### ${role} (${r.processes} profile(s), ${(r.busyUs / 1e6).toFixed(2)} s busy)`, "", "| self | file |", "| ---: | --- |", ...rows(r.byFile), "",
      "| self | function |", "| ---: | --- |", ...rows(r.byFunction), "", "",
    ].join("\n"));
  }
}

main();
