// Conformance harness: the interop matrix written as JSON, Markdown and HTML — requirement × ordered pair, every
// cell linking to that pair's own HTML report (at the first failing check when there is one).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describeRequirements } from "./report.ts";
import type { MatrixReport } from "./matrix.ts";

const esc = (t: unknown): string => String(t ?? "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const MARK: Record<string, string> = { pass: "✓ pass", fail: "✗ fail", "not-testable": "✗ not testable", excluded: "– excluded", "not-run": "not run" };
const COLOUR: Record<string, string> = { pass: "#c8f0c8", fail: "#f6c2c2", "not-testable": "#f3d9b1", excluded: "#e4e4e4", "not-run": "#ddd" };

function pairLabel(m: MatrixReport, i: number): string {
  const p = m.runs[i]!.pair;
  return `${p.alice} → ${p.bob}`;
}

/** Where one cell links: the pair's HTML report, at the first failing check of that requirement when it failed. */
function cellLink(m: MatrixReport, row: MatrixReport["requirements"][number], i: number): string {
  const failing = row.cells[i]!.failing[0];
  return `${m.runs[i]!.html}${failing ? `#check-${encodeURIComponent(failing)}` : ""}`;
}

export function matrixMarkdown(m: MatrixReport): string {
  const pairs = m.runs.map((_, i) => pairLabel(m, i));
  const lines = [
    `# SMCP Federation implementation report`,
    "",
    `Implementations: ${m.implementations.map((i) => `**${i.name}** (\`${i.command.replace(/`/g, "'")}\`)`).join(", ")}. Every ordered pair, alice → bob. Generated ${m.startedAt}, ${(m.durationMs / 1000).toFixed(1)} s.`,
    "",
    `| pair | exit | pass | fail | not testable | excluded | run |`,
    `|---|---|---|---|---|---|---|`,
    ...m.runs.map((r, i) => `| ${pairs[i]} | ${r.error ? "not run" : r.exit_code} | ${r.summary.pass} | ${r.summary.fail} | ${r.summary.notTestable} | ${r.summary.excluded} | ${r.error ? r.error.replace(/\|/g, "\\|").slice(0, 200) : `[HTML](${r.html}) · [JSON](${r.json})`} |`),
    "",
    `| requirement | ${pairs.join(" | ")} |`,
    `|---|${pairs.map(() => "---").join("|")}|`,
    ...m.requirements.map((row) => `| ${row.id} | ${row.cells.map((c, i) => (c.status === "not-run" ? "not run" : `[${MARK[c.status]}](${cellLink(m, row, i)})`)).join(" | ")} |`),
    "",
  ];
  return lines.join("\n");
}

export function matrixHtml(m: MatrixReport): string {
  const text = new Map(describeRequirements(m.requirements.map((r) => r.id)).map((q) => [q.id, q]));
  const head = m.runs
    .map((r, i) => `<th><a href="${esc(r.html)}">${esc(pairLabel(m, i))}</a><br><small>${r.error ? `not run: ${esc(r.error)}` : `exit ${r.exit_code} · ${r.summary.pass} pass · ${r.summary.fail} fail · ${r.summary.notTestable} not testable`}</small></th>`)
    .join("");
  const rows = m.requirements
    .map((row) => {
      const q = text.get(row.id);
      const cells = row.cells
        .map((c, i) => (c.status === "not-run" ? `<td style="background:${COLOUR["not-run"]}">not run</td>` : `<td style="background:${COLOUR[c.status]}" title="${esc(c.checks.join(", "))}"><a href="${esc(cellLink(m, row, i))}">${esc(MARK[c.status])}</a></td>`))
        .join("");
      return `<tr><td><code>${esc(row.id)}</code>${q ? `<br><small>${esc(q.level)} §${esc(q.section)} ${esc(q.summary)}</small>` : ""}</td>${cells}</tr>`;
    })
    .join("\n");
  return `<!doctype html><html><head><meta charset="utf-8"><title>SMCP implementation report</title><style>
body{font:13px system-ui,sans-serif;margin:1em}table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:4px;vertical-align:top;text-align:left}a{color:inherit}
</style></head><body><h1>SMCP Federation implementation report</h1>
<p>${m.implementations.map((i) => `<b>${esc(i.name)}</b>: <code>${esc(i.command)}</code>`).join("<br>")}</p>
<p>Every ordered pair (alice → bob), each requirement as the checks citing it came out; a cell opens that run's report.</p>
<table><thead><tr><th>requirement</th>${head}</tr></thead><tbody>
${rows}
</tbody></table></body></html>
`;
}

/** Writes matrix.json, matrix.md and matrix.html into `outDir` (the runs are already in `outDir/runs`). */
export function writeMatrix(m: MatrixReport, outDir: string): string[] {
  const files = { "matrix.json": JSON.stringify(m, null, 2), "matrix.md": matrixMarkdown(m), "matrix.html": matrixHtml(m) };
  for (const [name, body] of Object.entries(files)) writeFileSync(join(outDir, name), body);
  return Object.keys(files).map((n) => join(outDir, n));
}

