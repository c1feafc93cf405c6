// Spec tooling (spec §13 errors, fixtures/examples): makes the generated OpenAPI teach — request and response
// examples from the fixtures' valid examples, and per operation the errcodes each error status can carry, taken
// from the error-code table of spec/smcp-federation.md §13. Run by scripts/spec-build.ts on every build.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

type Doc = Record<string, any>;
interface CodeRow {
  errcode: string;
  status: number | null;
  meaning: string;
  sections: string[];
}

/** The §13 table: errcode, status (null for per-item codes), meaning, and the sections that use it. */
export function errorTable(prose: string): CodeRow[] {
  const rows: CodeRow[] = [];
  for (const line of prose.split("\n")) {
    const m = /^\| `(SMCP_[A-Z_]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$/.exec(line);
    if (!m) continue;
    const status = /^\d{3}$/.test(m[2]!.trim()) ? Number(m[2]!.trim()) : null;
    rows.push({ errcode: m[1]!, status, meaning: m[3]!.trim().replace(/`/g, ""), sections: m[4]!.match(/§[\d.]+/g)?.map((s) => s.slice(1)) ?? [] });
  }
  return rows;
}

/** The errcodes a signed or control request meets before its handler (spec §5.6, §12.5), by whether it has a body. */
function commonCodes(kind: "public" | "federation" | "control", hasBody: boolean): string[] {
  const always = ["SMCP_NOT_FOUND", "SMCP_METHOD_NOT_ALLOWED", "SMCP_INTERNAL"];
  if (kind === "public") return always;
  const body = hasBody ? ["SMCP_BAD_JSON", "SMCP_TOO_LARGE", "SMCP_UNSUPPORTED_MEDIA_TYPE"] : [];
  if (kind === "control") return [...always, ...body, "SMCP_INVALID", "SMCP_UNAUTHORIZED", "SMCP_FORBIDDEN"];
  const signed = ["SMCP_INVALID", "SMCP_UNAUTHORIZED", "SMCP_WRONG_DESTINATION", "SMCP_BAD_TIMESTAMP", "SMCP_UNKNOWN_KEY", "SMCP_BAD_SIGNATURE", "SMCP_REPLAY", "SMCP_RATE_LIMITED"];
  return [...always, ...body, ...signed, ...(hasBody ? ["SMCP_ORIGIN_MISMATCH"] : [])];
}

/** Codes only the checks of a signed request give (spec §5.6 checks 3–11). */
const SIGNED_ONLY = new Set(["SMCP_WRONG_DESTINATION", "SMCP_BAD_TIMESTAMP", "SMCP_UNKNOWN_KEY", "SMCP_BAD_SIGNATURE", "SMCP_REPLAY", "SMCP_ORIGIN_MISMATCH", "SMCP_RATE_LIMITED"]);

/** Sections overlap when one is the other or contains it (§8 and §8.4; §12.3 and §12). */
const overlaps = (a: string, b: string) => a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);

function operationCodes(op: Doc, kind: "public" | "federation" | "control", table: CodeRow[]): Map<number, CodeRow[]> {
  const sections = String(op.description ?? "").match(/§[\d.]+/g)?.map((s) => s.slice(1)) ?? [];
  const wanted = new Set(commonCodes(kind, op.requestBody !== undefined));
  for (const row of table) {
    // Per-item codes never are an HTTP errcode of the federation API (ERR-08); the control API may relay them.
    if (row.status === null) continue;
    // A control operation that declares 429 (a bound of its own, e.g. Judith runs in flight) gets SMCP_RATE_LIMITED.
    if (kind !== "federation" && SIGNED_ONLY.has(row.errcode) && !(row.errcode === "SMCP_RATE_LIMITED" && op.responses?.["429"])) continue;
    // SMCP_PEER_UNREACHABLE: a federation endpoint answers it only where a hop relays a call onward (1.1 forwarding, §10.6).
    if (kind !== "control" && row.errcode === "SMCP_PEER_UNREACHABLE" && !sections.includes("10.6")) continue;
    if (kind === "control" && row.errcode === "SMCP_PEER_UNREACHABLE" && op.responses?.["502"]) wanted.add(row.errcode);
    if (row.sections.some((s) => sections.some((t) => overlaps(s, t)))) wanted.add(row.errcode);
  }
  const byStatus = new Map<number, CodeRow[]>();
  for (const row of table) {
    if (!wanted.has(row.errcode) || row.status === null || op.responses?.[String(row.status)] === undefined) continue;
    byStatus.set(row.status, [...(byStatus.get(row.status) ?? []), row]);
  }
  return byStatus;
}

function fixtureExamples(fixturesDir: string, schema: string): Record<string, { value: unknown }> {
  const dir = join(fixturesDir, "examples", schema);
  if (!existsSync(dir)) return {};
  const out: Record<string, { value: unknown }> = {};
  for (const f of readdirSync(dir).filter((f) => f.startsWith("valid-")).sort())
    out[f.slice("valid-".length, -".json".length)] = { value: JSON.parse(readFileSync(join(dir, f), "utf8")) };
  return out;
}

function errorExample(row: CodeRow, fixtures: Record<string, { value: any }>): unknown {
  const known = Object.values(fixtures).find((e) => e.value.errcode === row.errcode);
  if (known) return known.value;
  const example: Record<string, unknown> = { errcode: row.errcode, error: row.meaning };
  if (row.errcode === "SMCP_INVALID") example.details = [{ path: "", message: row.meaning }];
  if (row.errcode === "SMCP_RATE_LIMITED" || row.errcode === "SMCP_PEER_UNREACHABLE") example.retry_after_ms = 1000;
  return example;
}

const refName = (schema: Doc | undefined) => (typeof schema?.$ref === "string" ? schema.$ref.replace(/^.*\//, "") : undefined);

/** Adds examples and errcode descriptions in place; returns the document. */
export function teachOpenApi(doc: Doc, prose: string, fixturesDir: string): Doc {
  const table = errorTable(prose);
  const errorFixtures = fixtureExamples(fixturesDir, "Error");
  for (const [path, item] of Object.entries<Doc>(doc.paths ?? {})) {
    for (const op of Object.values<Doc>(item)) {
      const kind = path.startsWith("/control/") ? "control" : (op.security ?? []).some((s: Doc) => Object.keys(s).length) || op.parameters?.length ? "federation" : "public";
      const media = op.requestBody?.content?.["application/json"];
      if (media) media.examples = fixtureExamples(fixturesDir, refName(media.schema) ?? "");
      const codes = operationCodes(op, path.startsWith("/federation/v1/keys") || path.startsWith("/.well-known") ? "public" : kind, table);
      for (const [status, resp] of Object.entries<Doc>(op.responses ?? {})) {
        const body = resp.content?.["application/json"];
        if (!body) continue;
        if (Number(status) < 400) {
          body.examples = fixtureExamples(fixturesDir, refName(body.schema) ?? "");
          continue;
        }
        const rows = codes.get(Number(status)) ?? [];
        resp.description = rows.length ? `${rows.map((r) => `\`${r.errcode}\`: ${r.meaning}`).join("; ")} (spec §13).` : resp.description;
        resp["x-smcp-errcodes"] = rows.map((r) => r.errcode);
        body.examples = Object.fromEntries(rows.map((r) => [r.errcode, { value: errorExample(r, errorFixtures) }]));
      }
    }
  }
  return doc;
}
