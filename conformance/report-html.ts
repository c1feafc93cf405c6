// Conformance harness: a self-contained HTML report — one run, or several runs side by side (implementations × checks),
// each cell with status and duration, and the failure's expected/actual and wire log one click away.
import { readFileSync } from "node:fs";

interface JsonCheck {
  id: string;
  name: string;
  requirements: string[];
  level: string;
  status: string;
  expectation?: string;
  category?: string;
  duration_ms: number;
  expected: string | null;
  actual: string | null;
  details: string[];
  wire: Array<{ dir: string; via: string; method: string; url: string; status?: number; body?: string; response?: string; problems?: string[] }>;
}

export interface JsonRun {
  deployment: string;
  alice: string;
  bob: string;
  startedAt: string;
  latency?: { p50: number; p95: number; p99: number; max: number; calls: number };
  summary: Record<string, number>;
  checks: JsonCheck[];
}

export function loadRun(file: string): JsonRun {
  const run = JSON.parse(readFileSync(file, "utf8")) as JsonRun;
  if (!Array.isArray(run.checks)) throw new Error(`${file} is not a smcp-conformance --json report`);
  return run;
}

const esc = (t: unknown): string => String(t ?? "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const COLOURS: Record<string, string> = { pass: "#c8f0c8", fail: "#f6c2c2", "not-testable": "#f3d9b1", excluded: "#e4e4e4" };

function cell(c: JsonCheck | undefined): string {
  if (!c) return `<td class="none">—</td>`;
  const label = c.expectation === "expected-failure" ? `${c.status} (expected)` : c.expectation === "stale" ? "pass (STALE)" : c.status;
  const open = c.status === "fail" || c.status === "not-testable" || c.expectation === "stale";
  const wire = c.wire
    .map((w) => `${w.dir === "in" ? "&lt;-" : "-&gt;"} ${esc(w.via)} ${esc(w.method)} ${esc(w.url)} ${esc(w.status)}\n   ${esc(w.body ?? "")}\n   = ${esc(w.response ?? "")}${w.problems ? `\n   !! ${esc(w.problems.join("; "))}` : ""}`)
    .join("\n");
  const body = `<div>${esc(c.details.join(" — "))}</div>${c.expected !== null ? `<div><b>expected</b> ${esc(c.expected)}</div>` : ""}${c.actual !== null ? `<div><b>actual</b> ${esc(c.actual)}</div>` : ""}${wire ? `<details><summary>wire log (${c.wire.length})</summary><pre>${wire}</pre></details>` : ""}`;
  return `<td style="background:${COLOURS[c.status] ?? "#fff"}"><details${open ? " open" : ""}><summary>${esc(label)}${c.category ? ` [${esc(c.category)}]` : ""} · ${c.duration_ms} ms</summary>${body}</details></td>`;
}

/** Checks as rows (in the first report's order, then any others), one column per run. */
export function htmlReport(runs: Array<{ label: string; run: JsonRun }>): string {
  const ids: string[] = [];
  const meta = new Map<string, JsonCheck>();
  for (const { run } of runs) {
    for (const c of run.checks) {
      if (!meta.has(c.id)) {
        ids.push(c.id);
        meta.set(c.id, c);
      }
    }
  }
  const byRun = runs.map(({ run }) => new Map(run.checks.map((c) => [c.id, c])));
  const head = runs
    .map(({ label, run }) => {
      const l = run.latency ? `<br>latency p50 ${run.latency.p50} · p95 ${run.latency.p95} · p99 ${run.latency.p99} · max ${run.latency.max} ms` : "";
      const s = run.summary;
      return `<th>${esc(label)}<br><small>${esc(run.alice)} / ${esc(run.bob)}<br>${s.pass ?? 0} pass · ${s.fail ?? 0} fail · ${s.notTestable ?? 0} not testable${l}</small></th>`;
    })
    .join("");
  const rows = ids
    .map((id) => {
      const m = meta.get(id)!;
      return `<tr><td><code>${esc(id)}</code><br><small>${esc(m.level)} ${esc(m.requirements.join(", "))} — ${esc(m.name)}</small></td>${byRun.map((r) => cell(r.get(id))).join("")}</tr>`;
    })
    .join("\n");
  return `<!doctype html><html><head><meta charset="utf-8"><title>SMCP conformance</title><style>
body{font:13px system-ui,sans-serif;margin:1em}table{border-collapse:collapse;width:100%}td,th{border:1px solid #bbb;padding:4px;vertical-align:top;text-align:left}
pre{white-space:pre-wrap;font-size:11px;max-height:24em;overflow:auto;background:#fafafa;padding:4px}summary{cursor:pointer}td.none{color:#999}
</style></head><body><h1>SMCP Federation conformance</h1><table><thead><tr><th>check</th>${head}</tr></thead><tbody>
${rows}
</tbody></table></body></html>
`;
}
