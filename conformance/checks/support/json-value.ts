// Conformance harness, check support: JSON compared by value, with a diff — object member order carries no meaning
// (spec §3: event IDs are over the JCS form; EVT-11 asks for "the same JSON value"), array order does.
import { CheckFailure, show } from "../../assert.ts";

/** At most this many differences are listed; a diff longer than that is cut with a count. */
const MAX_DIFFS = 8;

/** A value as JSON text (strings quoted, so that "1" and 1 are told apart), cut when long. */
function lit(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function kind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

/** JSON Pointer escaping of one member name (RFC 6901). */
function pointer(path: string, key: string | number): string {
  return `${path}/${String(key).replace(/~/g, "~0").replace(/\//g, "~1")}`;
}

function walk(expected: unknown, actual: unknown, path: string, out: string[]): void {
  if (out.length > MAX_DIFFS) return;
  const [ke, ka] = [kind(expected), kind(actual)];
  const at = path || "/";
  if (ke !== ka) {
    out.push(`${at}: expected ${ke} ${lit(expected)}, got ${ka === "undefined" ? "nothing" : `${ka} ${lit(actual)}`}`);
    return;
  }
  if (ke === "array") {
    const [e, a] = [expected as unknown[], actual as unknown[]];
    if (e.length !== a.length) out.push(`${at}: expected ${e.length} items, got ${a.length}`);
    for (let i = 0; i < Math.min(e.length, a.length); i++) walk(e[i], a[i], pointer(path, i), out);
    return;
  }
  if (ke === "object") {
    const [e, a] = [expected as Record<string, unknown>, actual as Record<string, unknown>];
    for (const k of Object.keys(e)) {
      if (!Object.hasOwn(a, k)) out.push(`${pointer(path, k)}: missing (expected ${lit(e[k])})`);
      else walk(e[k], a[k], pointer(path, k), out);
    }
    for (const k of Object.keys(a)) if (!Object.hasOwn(e, k)) out.push(`${pointer(path, k)}: unexpected member ${lit(a[k])}`);
    return;
  }
  // Strings, booleans, and numbers by value (1.0 and 1 are one JSON number; so are -0 and 0 in JCS).
  if (expected !== actual) out.push(`${at}: expected ${lit(expected)}, got ${lit(actual)}`);
}

/** Where two JSON values differ, as `JSON-pointer: what` lines (under `base`); empty when they are the same JSON value. */
export function jsonDiff(expected: unknown, actual: unknown, base = ""): string[] {
  const out: string[] = [];
  walk(expected, actual, base, out);
  return out.length > MAX_DIFFS ? [...out.slice(0, MAX_DIFFS), `… and more`] : out;
}

/** Whether two values are the same JSON value (member order ignored, array order kept). */
export function sameJson(a: unknown, b: unknown): boolean {
  return jsonDiff(a, b).length === 0;
}

/** Fails the check with `message` and the diff unless `actual` is the same JSON value as `expected`. */
export function expectSameJson(actual: unknown, expected: unknown, message: string): void {
  const diff = jsonDiff(expected, actual);
  if (diff.length > 0) throw new CheckFailure(`${message} — differs at ${diff.join("; ")}`, show(expected), show(actual));
}

/**
 * Fails unless every member of `expected` is present in `actual` with the same JSON value (members `actual` adds are
 * allowed: e.g. an instance's Control API may add local fields to an event).
 */
export function expectJsonMembers(value: object, expected: Record<string, unknown>, message: string): void {
  const actual = value as Record<string, unknown>;
  const diff = Object.keys(expected).flatMap((k) =>
    Object.hasOwn(actual, k) ? jsonDiff(expected[k], actual[k], pointer("", k)) : [`${pointer("", k)}: missing (expected ${lit(expected[k])})`],
  );
  if (diff.length > 0) throw new CheckFailure(`${message} — differs at ${diff.join("; ")}`, show(expected), show(actual));
}
