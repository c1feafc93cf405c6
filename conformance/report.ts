// Conformance harness: reports — live console lines, the summary table (with latency), JSON records and JUnit XML.
import { writeFileSync } from "node:fs";
import type { LatencyStats } from "./context.ts";
import type { CheckResult } from "./runner.ts";
import { exitCodeFor } from "./selection.ts";
import { loadRequirements, type Requirement } from "./checks/requirements.ts";
import { htmlReport, type JsonRun } from "./report-html.ts";

let requirementIndex: Map<string, Requirement> | undefined;

/** The spec's own words for each requirement a check cites (h2spec-style: a failure quotes its requirement). */
export function describeRequirements(ids: string[]): Requirement[] {
  requirementIndex ??= new Map(loadRequirements().map((r) => [r.id, r]));
  return ids.flatMap((id) => {
    const r = requirementIndex!.get(id);
    return r ? [r] : [];
  });
}

export interface RunMeta {
  deployment: string;
  alice: string;
  bob: string;
  startedAt: string;
  durationMs: number;
  options: Record<string, unknown>;
  latency?: LatencyStats;
}

const tty = process.stdout.isTTY === true;
const paint = (code: string, text: string): string => (tty ? `\x1b[${code}m${text}\x1b[0m` : text);

/** One line per check as it finishes (and the expected/actual lines of a failure). */
export function progressLine(r: CheckResult, verbose: boolean): string {
  const ms = `${r.duration_ms} ms`.padStart(8);
  if (r.status === "excluded") return verbose ? paint("2", `  - ${r.id}  excluded: ${r.details[0] ?? ""}`) : "";
  if (r.status === "pass") {
    const stale = r.expectation === "stale" ? paint("33", "  STALE: listed as an expected failure but passes") : "";
    const notes = verbose && r.details.length ? `\n      ${r.details.join("\n      ")}` : "";
    return `${paint("32", "  ✓")} ${r.id} ${paint("2", ms)}${stale}${notes}`;
  }
  const mark = r.expectation === "expected-failure" ? paint("33", "  ✗ (expected)") : paint("31", "  ✗");
  const lines = [`${mark} ${r.id} ${paint("2", ms)}  [${r.category ?? r.status}] ${r.details[0] ?? ""}`];
  if (r.expected !== undefined) lines.push(`      expected: ${oneLine(r.expected)}`);
  if (r.actual !== undefined) lines.push(`      actual:   ${oneLine(r.actual)}`);
  for (const q of describeRequirements(r.requirements)) lines.push(paint("2", `      ${q.id} ${q.level} (spec §${q.section}): ${q.summary}`));
  if (verbose) {
    lines.push(...r.details.slice(1).map((d) => `      ${d}`));
    for (const w of r.wire.slice(-6)) lines.push(paint("2", `      ${w.dir === "in" ? "<-" : "->"} ${w.via} ${w.method} ${w.url} ${w.status ?? ""} ${oneLine(w.response ?? "").slice(0, 160)}`));
  }
  return lines.join("\n");
}

function oneLine(text: string): string {
  const t = text.replace(/\s*\n\s*/g, " | ");
  return t.length > 400 ? `${t.slice(0, 400)}…` : t;
}

export interface Counts {
  total: number;
  pass: number;
  fail: number;
  notTestable: number;
  excluded: number;
  expectedFailures: number;
  stale: number;
  instanceInvalid: number;
  harnessErrors: number;
}

export function counts(results: CheckResult[]): Counts {
  const c: Counts = { total: results.length, pass: 0, fail: 0, notTestable: 0, excluded: 0, expectedFailures: 0, stale: 0, instanceInvalid: 0, harnessErrors: 0 };
  for (const r of results) {
    if (r.status === "pass") c.pass++;
    else if (r.status === "fail") c.fail++;
    else if (r.status === "not-testable") c.notTestable++;
    else c.excluded++;
    if (r.expectation === "expected-failure") c.expectedFailures++;
    if (r.expectation === "stale") c.stale++;
    if (r.category === "instance-invalid") c.instanceInvalid++;
    if (r.category === "harness-error") c.harnessErrors++;
  }
  return c;
}

/** The closing table: counts, failure categories, latency, and the IDs that decide the exit code. */
export function summary(results: CheckResult[], meta: RunMeta): string {
  const c = counts(results);
  const row = (k: string, v: string | number): string => `  │ ${k.padEnd(34)} │ ${String(v).padStart(14)} │`;
  const line = (a: string, b: string): string => `  ${a}${"─".repeat(36)}${b}${"─".repeat(16)}${a === "┌" ? "┐" : a === "└" ? "┘" : "┤"}`;
  const out = [
    "",
    `SMCP conformance: ${meta.deployment} — alice ${meta.alice}, bob ${meta.bob}`,
    line("┌", "┬"),
    row("checks", c.total),
    row("passed", c.pass),
    row("failed", c.fail),
    row("not testable (prerequisite failed)", c.notTestable),
    row("excluded (selection/SHOULD/--tls)", c.excluded),
    row("  of failures: instance-invalid", c.instanceInvalid),
    row("  of failures: harness errors", c.harnessErrors),
    row("expected failures (listed)", c.expectedFailures),
    row("stale expected-failure entries", c.stale),
    line("├", "┼"),
  ];
  const l = meta.latency;
  if (l) {
    out.push(row(`latency, ${l.calls} calls alice→bob`, "ms"));
    out.push(row("  p50", l.p50), row("  p95", l.p95), row("  p99", `${l.p99} (< ${l.boundMs})`), row("  max", l.max));
  } else out.push(row("latency", "not measured"));
  out.push(line("├", "┼"), row("wall time", `${(meta.durationMs / 1000).toFixed(1)} s`), line("└", "┴"));
  const unexpected = results.filter((r) => (r.status === "fail" || r.status === "not-testable") && r.expectation !== "expected-failure");
  const stale = results.filter((r) => r.expectation === "stale");
  if (unexpected.length) out.push(`Unexpected failures (${unexpected.length}):`, ...unexpected.map((r) => `  ${r.id}  [${r.requirements.join(", ")}]  ${r.details[0] ?? ""}`));
  if (stale.length) out.push(`Stale expected-failure entries (now passing; remove them):`, ...stale.map((r) => `  ${r.id}`));
  out.push(exitCodeFor(results) === 0 ? paint("32", "RESULT: conformant for the selected checks") : paint("31", "RESULT: NOT conformant (exit 1)"));
  return out.join("\n");
}

/** `--json FILE`: one record per check, with its wire log, plus the run's metadata and summary. */
export function jsonReport(results: CheckResult[], meta: RunMeta): string {
  return JSON.stringify(
    {
      tool: "smcp-conformance",
      spec_version: "1.0",
      ...meta,
      summary: counts(results),
      exit_code: exitCodeFor(results),
      checks: results.map((r) => ({
        id: r.id,
        name: r.name,
        requirements: r.requirements,
        requirement_text: describeRequirements(r.requirements).map((q) => ({ id: q.id, level: q.level, section: q.section, summary: q.summary })),
        level: r.level,
        status: r.status,
        ...(r.category ? { category: r.category } : {}),
        expectation: r.expectation,
        duration_ms: r.duration_ms,
        expected: r.expected ?? null,
        actual: r.actual ?? null,
        details: r.details,
        wire: r.wire,
      })),
    },
    null,
    2,
  );
}

function xml(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** `--junit FILE`: failures and not-testable as <failure>, excluded and expected failures as <skipped>, stale as <failure>. */
export function junitReport(results: CheckResult[], meta: RunMeta): string {
  const c = counts(results);
  const cases = results.map((r) => {
    const dot = r.id.lastIndexOf("/");
    const attrs = `classname="${xml(r.id.slice(0, dot).replace(/\//g, "."))}" name="${xml(r.id)}" time="${(r.duration_ms / 1000).toFixed(3)}"`;
    const quoted = describeRequirements(r.requirements).map((q) => `${q.id} ${q.level} (spec §${q.section}): ${q.summary}`);
    const text = [r.name, `requirements: ${r.requirements.join(", ")} (${r.level})`, ...quoted, ...r.details, r.expected !== undefined ? `expected: ${r.expected}` : "", r.actual !== undefined ? `actual: ${r.actual}` : ""].filter(Boolean).join("\n");
    let inner = "";
    if (r.expectation === "stale") inner = `<failure type="stale-expected-failure" message="listed in the expected-failures file but passes">${xml(text)}</failure>`;
    else if (r.expectation === "expected-failure") inner = `<skipped message="${xml(`expected failure: ${r.details[0] ?? ""}`)}"/>`;
    else if (r.status === "fail" || r.status === "not-testable") inner = `<failure type="${xml(r.category ?? r.status)}" message="${xml(r.details[0] ?? r.status)}">${xml(text)}</failure>`;
    else if (r.status === "excluded") inner = `<skipped message="${xml(r.details[0] ?? "excluded")}"/>`;
    return `    <testcase ${attrs}>${inner}<system-out>${xml(text)}</system-out></testcase>`;
  });
  const failures = results.filter((r) => r.expectation === "stale" || ((r.status === "fail" || r.status === "not-testable") && r.expectation !== "expected-failure")).length;
  const skipped = c.excluded + c.expectedFailures;
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="smcp-conformance" tests="${c.total}" failures="${failures}" skipped="${skipped}" time="${(meta.durationMs / 1000).toFixed(3)}">`,
    `  <testsuite name="smcp-conformance (${xml(meta.deployment)})" tests="${c.total}" failures="${failures}" errors="0" skipped="${skipped}" time="${(meta.durationMs / 1000).toFixed(3)}" timestamp="${xml(meta.startedAt)}">`,
    ...cases,
    `  </testsuite>`,
    `</testsuites>`,
    "",
  ].join("\n");
}

export function writeReports(results: CheckResult[], meta: RunMeta, files: { json?: string; junit?: string; html?: string }): void {
  const json = jsonReport(results, meta);
  if (files.json) writeFileSync(files.json, json);
  if (files.junit) writeFileSync(files.junit, junitReport(results, meta));
  if (files.html) writeFileSync(files.html, htmlReport([{ label: meta.deployment, run: JSON.parse(json) as JsonRun }]));
}
