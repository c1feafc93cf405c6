// Conformance harness: choosing checks (--only/--skip globs) and the expected-failures file (MCP-conformance style).
import { readFileSync } from "node:fs";

/**
 * `*` matches any run of characters (slashes included), `?` one character. A pattern also matches a per-instance
 * check (`id@alice`) when it matches the ID without its `@instance` suffix, so `adv/sign/replay` selects both.
 */
export function globMatches(pattern: string, id: string): boolean {
  const re = new RegExp(`^${pattern.split("").map(globChar).join("")}$`);
  if (re.test(id)) return true;
  const at = id.lastIndexOf("@");
  return at > 0 && re.test(id.slice(0, at));
}

function globChar(c: string): string {
  if (c === "*") return ".*";
  if (c === "?") return ".";
  return c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
}

export function anyMatches(patterns: string[], id: string): boolean {
  return patterns.some((p) => globMatches(p, id));
}

/** Splits `--only a,b --only c` style values into patterns. */
export function splitPatterns(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(",")).map((s) => s.trim()).filter(Boolean);
}

/** An expected-failures list: check IDs or globs, each with an optional reason. */
export type ExpectedFailures = Map<string, string>;

/**
 * Reads JSON (`["id", ...]`, `{"id": "reason"}` or `{"expected_failures": [...]}`) or text (one ID per line,
 * lines starting with `#` are comments, optional reason after whitespace).
 */
export function parseExpectedFailures(text: string): ExpectedFailures {
  const out: ExpectedFailures = new Map();
  const trimmed = text.trim();
  if (trimmed.startsWith("[") || trimmed.startsWith("{")) {
    const json = JSON.parse(trimmed) as unknown;
    const list = Array.isArray(json) ? json : (json as { expected_failures?: unknown }).expected_failures ?? json;
    if (Array.isArray(list)) {
      for (const item of list) {
        if (typeof item === "string") out.set(item, "");
        else if (item && typeof item === "object" && typeof (item as { id?: unknown }).id === "string") {
          out.set((item as { id: string }).id, String((item as { reason?: unknown }).reason ?? ""));
        } else throw new Error(`expected-failures entry is neither an ID nor {id, reason}: ${JSON.stringify(item)}`);
      }
    } else if (list && typeof list === "object") {
      for (const [id, reason] of Object.entries(list)) out.set(id, typeof reason === "string" ? reason : "");
    }
    return out;
  }
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const [id, ...reason] = line.split(/\s+/);
    out.set(id!, reason.join(" "));
  }
  return out;
}

export function loadExpectedFailures(file: string): ExpectedFailures {
  return parseExpectedFailures(readFileSync(file, "utf8"));
}

export type Status = "pass" | "fail" | "not-testable" | "excluded";

/** How a result relates to the expected-failures list. */
export type Expectation = "none" | "expected-failure" | "stale";

/** A listed check that failed is expected; a listed check that passed is a stale entry (which also fails the run). */
export function expectationFor(id: string, status: Status, expected: ExpectedFailures): Expectation {
  const listed = [...expected.keys()].some((p) => globMatches(p, id));
  if (!listed) return "none";
  if (status === "fail" || status === "not-testable") return "expected-failure";
  if (status === "pass") return "stale";
  return "none";
}

/** Exit code of a run: 1 for any unexpected failure or stale expected-failure entry, else 0. */
export function exitCodeFor(results: Array<{ status: Status; expectation: Expectation }>): 0 | 1 {
  const bad = results.some(
    (r) => r.expectation === "stale" || ((r.status === "fail" || r.status === "not-testable") && r.expectation !== "expected-failure"),
  );
  return bad ? 1 : 0;
}
