// Conformance harness: a self-contained HTML report — one run, or several runs side by side (implementations × checks),
// failures first, filters by status and group, each cell with status and duration, and the failure's
// expected/actual and wire log one click away.
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

/** The worst outcome of a check across runs decides where its row sorts and which status filter shows it. */
const RANK: Record<string, number> = { fail: 0, "not-testable": 1, stale: 2, pass: 3, excluded: 4, none: 5 };

function rowStatus(cells: Array<JsonCheck | undefined>): string {
  const statuses = cells.map((c) => (!c ? "none" : c.expectation === "stale" ? "stale" : c.status));
  return statuses.sort((x, y) => (RANK[x] ?? 9) - (RANK[y] ?? 9))[0] ?? "none";
}

/** `adv/sign/replay@bob` → group `adv`, area `adv/sign`. */
function groupOf(id: string): { group: string; area: string } {
  const parts = id.replace(/@.*$/, "").split("/");
  return { group: parts[0] ?? id, area: parts.slice(0, 2).join("/") };
}

const FILTER_SCRIPT = `
const rows = [...document.querySelectorAll("tbody tr")];
const boxes = [...document.querySelectorAll("input[name=status]")];
const group = document.getElementById("group");
function apply() {
  const on = new Set(boxes.filter((b) => b.checked).map((b) => b.value));
  const g = group.value;
  let shown = 0;
  for (const r of rows) {
    const ok = on.has(r.dataset.status) && (g === "" || r.dataset.group === g || r.dataset.area === g);
    r.hidden = !ok;
    if (ok) shown++;
  }
  document.getElementById("shown").textContent = shown + " of " + rows.length + " checks shown";
}
for (const b of boxes) b.addEventListener("change", apply);
group.addEventListener("change", apply);
apply();
`;

/** Checks as rows — failures first, then the rest in the first report's order — one column per run. */
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
  const status = new Map(ids.map((id) => [id, rowStatus(byRun.map((r) => r.get(id)))]));
  const ordered = ids.map((id, i) => ({ id, i })).sort((a, b) => (RANK[status.get(a.id)!] ?? 9) - (RANK[status.get(b.id)!] ?? 9) || a.i - b.i).map((x) => x.id);
  const head = runs
    .map(({ label, run }) => {
      const l = run.latency ? `<br>latency p50 ${run.latency.p50} · p95 ${run.latency.p95} · p99 ${run.latency.p99} · max ${run.latency.max} ms` : "";
      const s = run.summary;
      return `<th>${esc(label)}<br><small>${esc(run.alice)} / ${esc(run.bob)}<br>${s.pass ?? 0} pass · ${s.fail ?? 0} fail · ${s.notTestable ?? 0} not testable${l}</small></th>`;
    })
    .join("");
  const rows = ordered
    .map((id) => {
      const m = meta.get(id)!;
      const g = groupOf(id);
      return `<tr id="check-${esc(id)}" data-status="${esc(status.get(id))}" data-group="${esc(g.group)}" data-area="${esc(g.area)}"><td><code>${esc(id)}</code><br><small>${esc(m.level)} ${esc(m.requirements.join(", "))} — ${esc(m.name)}</small></td>${byRun.map((r) => cell(r.get(id))).join("")}</tr>`;
    })
    .join("\n");
  const present = new Set(status.values());
  const boxes = ["fail", "not-testable", "stale", "pass", "excluded"]
    .filter((s) => present.has(s))
    .map((s) => `<label><input type="checkbox" name="status" value="${s}" checked> ${s} (${[...status.values()].filter((x) => x === s).length})</label>`)
    .join(" ");
  const groups = [...new Set(ids.map((id) => groupOf(id).group))];
  const areas = [...new Set(ids.map((id) => groupOf(id).area))].sort();
  const options = [`<option value="">all groups</option>`, ...groups.map((g) => `<option value="${esc(g)}">${esc(g)}/*</option>`), ...areas.map((a) => `<option value="${esc(a)}">${esc(a)}/*</option>`)].join("");
  return `<!doctype html><html><head><meta charset="utf-8"><title>SMCP conformance</title><style>
body{font:13px system-ui,sans-serif;margin:1em}table{border-collapse:collapse;width:100%}td,th{border:1px solid #bbb;padding:4px;vertical-align:top;text-align:left}
pre{white-space:pre-wrap;font-size:11px;max-height:24em;overflow:auto;background:#fafafa;padding:4px}summary{cursor:pointer}td.none{color:#999}
#filters{margin:.5em 0;padding:.5em;background:#f4f4f4}#filters label{margin-right:.8em}tr[hidden]{display:none}
</style></head><body><h1>SMCP Federation conformance</h1>
<div id="filters">status: ${boxes} · group: <select id="group">${options}</select> · <span id="shown">${ids.length} of ${ids.length} checks shown</span></div>
<table><thead><tr><th>check</th>${head}</tr></thead><tbody>
${rows}
</tbody></table><script>${FILTER_SCRIPT}</script></body></html>
`;
}
