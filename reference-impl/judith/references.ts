// Judith (spec §18.1.2): the reference syntax — step inputs taken from the run's input and earlier steps' outputs,
// by path only (`$from`) and string joining (`$concat`); nothing is evaluated as code.
import type { ValidationIssue } from "../../protocol/types.ts";
import { JUDITH_LIMITS } from "./limits.ts";

/** Roots a reference may start from: `input`, `run` and the IDs of the steps before the one that refers. */
export type Scope = ReadonlyMap<string, unknown>;

export class BadReference extends Error {}

const SEGMENT = /^[A-Za-z0-9_-]{1,128}$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function refKeys(v: Record<string, unknown>): string[] {
  return Object.keys(v).filter((k) => k.startsWith("$"));
}

/** Definition-time check of every reference in `value`: syntax, and roots among `roots` (JDT-07, JDT-08). */
export function checkReferences(value: unknown, roots: ReadonlySet<string>, path: string, issues: ValidationIssue[], depth = 0): void {
  if (depth > JUDITH_LIMITS.maxReferenceDepth) {
    issues.push({ path, message: `nests deeper than ${JUDITH_LIMITS.maxReferenceDepth} levels` });
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkReferences(v, roots, `${path}/${i}`, issues, depth + 1));
    return;
  }
  if (!isObject(value)) return;
  const refs = refKeys(value);
  if (refs.length === 0) {
    for (const [k, v] of Object.entries(value)) checkReferences(v, roots, `${path}/${escape(k)}`, issues, depth + 1);
    return;
  }
  if (refs.length !== 1 || Object.keys(value).length !== 1) {
    issues.push({ path, message: "a reference is an object with exactly one member, $from or $concat" });
    return;
  }
  if ("$from" in value) checkFrom(value.$from, roots, `${path}/$from`, issues);
  else if ("$concat" in value) checkConcat(value.$concat, roots, `${path}/$concat`, issues, depth);
  else issues.push({ path, message: `unknown reference ${refs[0]}: only $from and $concat are defined` });
}

function checkFrom(from: unknown, roots: ReadonlySet<string>, path: string, issues: ValidationIssue[]): void {
  const parts = typeof from === "string" ? from.split(".") : [];
  if (parts.length === 0 || parts.length > JUDITH_LIMITS.maxPathSegments + 1 || !parts.every((p) => SEGMENT.test(p))) {
    issues.push({ path, message: `must be a dotted path (<root>.<name>..., at most ${JUDITH_LIMITS.maxPathSegments} segments of [A-Za-z0-9_-])` });
    return;
  }
  if (!roots.has(parts[0]!)) issues.push({ path, message: `${parts[0]} is neither input, run nor an earlier step` });
}

function checkConcat(items: unknown, roots: ReadonlySet<string>, path: string, issues: ValidationIssue[], depth: number): void {
  if (!Array.isArray(items) || items.length === 0 || items.length > JUDITH_LIMITS.maxConcatItems) {
    issues.push({ path, message: `must be an array of 1 to ${JUDITH_LIMITS.maxConcatItems} strings, numbers or $from references` });
    return;
  }
  items.forEach((item, i) => {
    if (typeof item === "string" || typeof item === "number") return;
    if (isObject(item) && Object.keys(item).length === 1 && "$from" in item) checkFrom(item.$from, roots, `${path}/${i}/$from`, issues);
    else issues.push({ path: `${path}/${i}`, message: "must be a string, a number or a $from reference" });
  });
  void depth;
}

/** Resolves every reference in `value` against `scope`; throws BadReference for a path that names nothing (JDT-09). */
export function resolveReferences(value: unknown, scope: Scope): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveReferences(v, scope));
  if (!isObject(value)) return value;
  if ("$from" in value && Object.keys(value).length === 1) return lookup(value.$from as string, scope);
  if ("$concat" in value && Object.keys(value).length === 1) return concat(value.$concat as unknown[], scope);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = resolveReferences(v, scope);
  return out;
}

/** The value at a dotted path: object members by name, array elements by decimal index. */
export function lookup(from: string, scope: Scope): unknown {
  const [root, ...rest] = from.split(".");
  if (!scope.has(root!)) throw new BadReference(`${from}: ${root} has no output (yet)`);
  let v: unknown = scope.get(root!);
  for (const seg of rest) v = member(v, seg, from);
  return v;
}

/** One path step; `undefined` is never a value (JSON has none), so a missing member is a bad reference. */
function member(v: unknown, seg: string, from: string): unknown {
  let next: unknown;
  if (Array.isArray(v) && /^(0|[1-9][0-9]*)$/.test(seg)) next = v[Number(seg)];
  else if (isObject(v) && Object.hasOwn(v, seg)) next = v[seg];
  if (next === undefined) throw new BadReference(`${from}: nothing at ${seg}`);
  return next;
}

function concat(items: unknown[], scope: Scope): string {
  let out = "";
  for (const item of items) {
    const v = typeof item === "object" && item !== null ? lookup((item as { $from: string }).$from, scope) : item;
    if (typeof v !== "string" && typeof v !== "number") throw new BadReference(`$concat item ${JSON.stringify(item)} is not a string or number`);
    out += String(v);
    if (Buffer.byteLength(out) > JUDITH_LIMITS.maxConcatBytes) throw new BadReference(`$concat result exceeds ${JUDITH_LIMITS.maxConcatBytes} bytes`);
  }
  return out;
}

function escape(key: string): string {
  return key.replace(/~/g, "~0").replace(/\//g, "~1");
}
