// Mutation testing of the conformance harness: the console lines and summary, and the JSON report (written after
// every mutant, so an interrupted run still leaves what it measured) (issue 11).
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { formatScore, type Tally } from "./classify.ts";
import { topSection, type Mutant, type Stale } from "./mutant.ts";
import type { MutantResult } from "./runner.ts";
import { SURVIVOR_KIND_TEXT, type AllowedSurvivor } from "./survivors.ts";

export interface ReportRow extends MutantResult {
  file: string;
  section: string;
  requirements: string[];
  why: string;
  strict: boolean;
  allowListed: boolean;
  allowReason?: string;
}

export function row(m: Mutant, r: MutantResult, strict: boolean, allowed: AllowedSurvivor | undefined): ReportRow {
  return {
    ...r, file: m.file, section: m.section, requirements: m.requirements, why: m.why, strict,
    allowListed: allowed !== undefined && r.status === "survived",
    ...(allowed ? { allowReason: `${allowed.kind}: ${allowed.reason}` } : {}),
  };
}

const MARK: Record<MutantResult["status"], string> = { killed: "✓ killed  ", survived: "✗ SURVIVED", error: "! error   ", timeout: "! timeout " };

export function progressLine(done: number, total: number, r: ReportRow): string {
  const head = `[${String(done).padStart(String(total).length)}/${total}] ${r.allowListed ? "- allowed " : MARK[r.status]} ${r.id}  ${r.section}  ${(r.durationMs / 1000).toFixed(1)} s`;
  if (r.status === "killed") return `${head}  by ${r.killers.slice(0, 3).join(", ")}${r.killers.length > 3 ? ` (+${r.killers.length - 3})` : ""}`;
  if (r.status === "survived") return `${head}  — ${r.allowListed ? r.allowReason : `${r.requirements.join(", ")}: ${r.why}`}`;
  return `${head}  — ${r.detail ?? ""}`;
}

/** How often each check killed a mutant: checks that never do are candidates for sharper assertions. */
export function checkKills(rows: readonly ReportRow[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of rows) for (const k of r.killers) counts[k] = (counts[k] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1)));
}

export function summary(rows: readonly ReportRow[], stale: readonly Stale[], t: Tally, staleAllowList: string[], minScore: number): string {
  const out: string[] = ["", "SMCP mutation testing of the conformance harness", ""];
  out.push("  section  mutants  killed  survived  allowed  error/timeout");
  const sections = [...new Set(rows.map((r) => topSection(r)))].sort((a, b) => Number(a) - Number(b));
  for (const sec of sections) {
    const in_ = rows.filter((r) => topSection(r) === sec);
    const n = (f: (r: ReportRow) => boolean): string => String(in_.filter(f).length);
    out.push(`  §${sec.padEnd(7)} ${String(in_.length).padStart(7)} ${n((r) => r.status === "killed").padStart(7)} ${n((r) => r.status === "survived" && !r.allowListed).padStart(9)} ${n((r) => r.allowListed).padStart(8)} ${n((r) => r.status === "error" || r.status === "timeout").padStart(14)}`);
  }
  const survivors = rows.filter((r) => r.status === "survived" && !r.allowListed);
  if (survivors.length > 0) {
    out.push("", `SURVIVORS (${survivors.length}) — each needs a new or sharper check, or an allow-list entry with the reason no black-box run can see it:`);
    for (const r of survivors) out.push(`  ${r.id}  ${r.section} ${r.requirements.join(", ")}  [${r.file}]`, `      ${r.why}${r.detail ? `\n      (${r.detail})` : ""}`);
  }
  const allowed = rows.filter((r) => r.allowListed);
  if (allowed.length > 0) {
    out.push("", `allow-listed survivors (${allowed.length}), outside the score:`);
    for (const r of allowed) out.push(`  ${r.id}  ${r.allowReason}`);
  }
  const errors = rows.filter((r) => r.status === "error" || r.status === "timeout");
  if (errors.length > 0) {
    out.push("", `errors and timeouts (${errors.length}), neither killed nor survived:`);
    for (const r of errors) {
      out.push(`  ${r.id}  ${r.status}: ${r.detail ?? ""}`);
      for (const [name, text] of Object.entries(r.instanceLogs ?? {})) {
        const last = text.trim().split("\n").slice(-3).map((l) => `        ${l.slice(0, 240)}`);
        out.push(`      ${name} (deleted with the scratch copy; the JSON report keeps its end):`, ...last);
      }
    }
  }
  if (stale.length > 0) {
    out.push("", `STALE (${stale.length}) — the find no longer matches exactly once; re-target the mutant (same id) to the current code:`);
    for (const s of stale) out.push(`  ${s.id}  ${s.reason}`);
  }
  if (staleAllowList.length > 0) out.push("", `STALE allow-list entries (killed, so observable): ${staleAllowList.join(", ")}`);
  out.push("", `killed ${t.killed}, survived ${t.survived}, allow-listed ${t.allowed}, error ${t.error}, timeout ${t.timeout}, stale ${t.stale}`);
  out.push(`score killed/(killed+survived) = ${formatScore(t.score)}  (bar ${formatScore(minScore)})`);
  return out.join("\n") + "\n";
}

export interface JsonReport {
  tool: "smcp-mutants";
  startedAt: string;
  durationMs: number;
  complete: boolean;
  options: Record<string, unknown>;
  baseline: { status: string; failing: string[]; durationMs: number; detail?: string } | null;
  tally: Tally;
  minScore: number;
  ok: boolean | null;
  reasons: string[];
  survivorKinds: typeof SURVIVOR_KIND_TEXT;
  stale: Stale[];
  staleAllowList: string[];
  checkKills: Record<string, number>;
  mutants: ReportRow[];
}

export function writeJson(file: string, report: JsonReport): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(report, null, 2) + "\n");
}
