// Protocol primitive (all components): RFC 8785 JSON Canonicalization Scheme, the only way SMCP turns JSON into signed bytes (spec §3).
import canonicalizeImpl from "canonicalize";
import { MAX_JSON_DEPTH, textWithinDepth, tooDeep } from "./json-depth.ts";


const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Thrown for values that have no canonical form under spec §3 (non-finite numbers, unsafe integers, non-JSON types). */
export class CanonicalJsonError extends Error {}

/** Returns the JCS text of `value`, after checking it is I-JSON as spec §3 restricts it. */
export function canonicalJson(value: unknown): string {
  if (tooDeep(value, MAX_JSON_DEPTH) !== null) throw new CanonicalJsonError(`value nests deeper than ${MAX_JSON_DEPTH} levels`);
  const fast = plainJcs(value);
  if (fast !== undefined) return fast;
  assertIJson(value, "");
  const text = (canonicalizeImpl as (v: unknown) => string | undefined)(value);
  if (text === undefined) throw new CanonicalJsonError("value has no JSON form");
  return text;
}

/** UTF-8 bytes of the JCS text: what gets hashed and signed. */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), "utf8");
}

const ANY_SURROGATE = /[\ud800-\udfff]/;

/**
 * The JCS text of a plain I-JSON value (depth already bounded), built in one pass since every signature and event ID
 * needs it; undefined for anything else (a value to refuse, a toJSON object, a sparse array), which then takes the
 * checked path below for its exact error or form. Keys sort by UTF-16 code units and scalars print as
 * JSON.stringify does, exactly as RFC 8785 and the canonicalize package do.
 */
function plainJcs(value: unknown): string | undefined {
  switch (typeof value) {
    case "string":
      return ANY_SURROGATE.test(value) && LONE_SURROGATE.test(value) ? undefined : JSON.stringify(value);
    case "number":
      return Number.isFinite(value) && !(Number.isInteger(value) && Math.abs(value) > MAX_SAFE) ? JSON.stringify(value) : undefined;
    case "boolean":
      return value ? "true" : "false";
    case "object":
      if (value === null) return "null";
      return Array.isArray(value) ? plainArray(value) : plainObject(value as Record<string, unknown>);
    default:
      return undefined;
  }
}

function plainArray(value: unknown[]): string | undefined {
  let out = "[";
  for (let i = 0; i < value.length; i++) {
    if (!(i in value)) return undefined;
    const item = plainJcs(value[i]);
    if (item === undefined) return undefined;
    out += i === 0 ? item : "," + item;
  }
  return out + "]";
}

function plainObject(value: Record<string, unknown>): string | undefined {
  if (typeof value.toJSON === "function") return undefined;
  const keys = Object.keys(value).sort();
  let out = "{";
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (ANY_SURROGATE.test(key) && LONE_SURROGATE.test(key)) return undefined;
    const item = plainJcs(value[key]);
    if (item === undefined) return undefined;
    out += (i === 0 ? "" : ",") + JSON.stringify(key) + ":" + item;
  }
  return out + "}";
}

function assertIJson(value: unknown, path: string): void {
  switch (typeof value) {
    case "string":
      // An unpaired surrogate has no UTF-8 form: Buffer would sign U+FFFD instead of the value.
      if (LONE_SURROGATE.test(value)) throw new CanonicalJsonError(`${path || "/"}: string contains an unpaired surrogate`);
      return;
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`${path || "/"}: number is not finite`);
      if (Number.isInteger(value) && Math.abs(value) > MAX_SAFE) {
        throw new CanonicalJsonError(`${path || "/"}: integer outside ±(2^53−1)`);
      }
      return;
    case "object":
      if (value === null) return;
      if (Array.isArray(value)) {
        value.forEach((item, i) => assertIJson(item, `${path}/${i}`));
        return;
      }
      for (const [key, item] of Object.entries(value)) {
        if (LONE_SURROGATE.test(key)) throw new CanonicalJsonError(`${path}: member name contains an unpaired surrogate`);
        if (item === undefined) throw new CanonicalJsonError(`${path}/${key}: undefined is not JSON`);
        assertIJson(item, `${path}/${key}`);
      }
      return;
    default:
      throw new CanonicalJsonError(`${path || "/"}: ${typeof value} is not JSON`);
  }
}

const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Parses received JSON bytes as I-JSON (spec §3.1, JCS-01..04): strict UTF-8 without a byte order mark, no
 * duplicate member names, no unpaired surrogate escapes, no integer literal beyond ±(2^53−1). JSON.parse
 * alone would silently keep the last duplicate, accept "\ud800" and round big integers.
 */
export function parseIJson(bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    throw new CanonicalJsonError("body is not valid UTF-8");
  }
  if (text.charCodeAt(0) === 0xfeff) throw new CanonicalJsonError("body starts with a byte order mark");
  if (!textWithinDepth(text, MAX_JSON_DEPTH)) throw new CanonicalJsonError(`JSON nests deeper than ${MAX_JSON_DEPTH} levels`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CanonicalJsonError(`not JSON: ${(err as Error).message}`);
  }
  scanIJson(text);
  return value;
}

interface Frame {
  keys: Set<string> | null; // null for arrays
  expectKey: boolean;
}

/**
 * Walks JSON text that JSON.parse already accepted, checking what JSON.parse does not. It runs on every received
 * body, so it looks at char codes and only materialises what it must check: member names (duplicates) and strings
 * with escapes (an escape is the only way to write an unpaired surrogate: strict UTF-8 decoding yields none).
 */
function scanIJson(text: string): void {
  const stack: Frame[] = [];
  let top: Frame | undefined;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      i = scanString(text, i, top);
    } else if (c === 0x7b || c === 0x5b) {
      top = { keys: c === 0x7b ? new Set() : null, expectKey: c === 0x7b };
      stack.push(top);
      i++;
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
      top = stack[stack.length - 1];
      i++;
    } else if (c === 0x2c) {
      if (top?.keys) top.expectKey = true;
      i++;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      i = scanNumber(text, i);
    } else {
      i++; // whitespace, ':', and the letters of true/false/null
    }
  }
}

function scanString(text: string, start: number, frame: Frame | undefined): number {
  let end = start + 1;
  let escaped = false;
  for (let c = text.charCodeAt(end); c !== 0x22 && end < text.length; c = text.charCodeAt(end)) {
    if (c === 0x5c) {
      escaped = true;
      end += 2;
    } else {
      end++;
    }
  }
  const isKey = frame?.keys != null && frame.expectKey;
  if (!escaped && !isKey) return end + 1;
  const value = escaped ? (JSON.parse(text.slice(start, end + 1)) as string) : text.slice(start + 1, end);
  if (escaped && LONE_SURROGATE.test(value)) throw new CanonicalJsonError("string contains an unpaired surrogate");
  if (isKey) {
    if (frame!.keys!.has(value)) throw new CanonicalJsonError(`duplicate member name ${JSON.stringify(value)}`);
    frame!.keys!.add(value);
    frame!.expectKey = false;
  }
  return end + 1;
}

/** Integer literals of at most 15 digits are below 10^15 < 2^53: only longer ones need an exact comparison. */
const SAFE_DIGITS = 15;

function scanNumber(text: string, start: number): number {
  let end = start;
  let integer = true;
  for (; end < text.length; end++) {
    const c = text.charCodeAt(end);
    if (c === 0x2e || c === 0x65 || c === 0x45) integer = false;
    else if (!(c === 0x2d || c === 0x2b || (c >= 0x30 && c <= 0x39))) break;
  }
  const digits = end - start - (text.charCodeAt(start) === 0x2d ? 1 : 0);
  if (integer && digits > SAFE_DIGITS) {
    const literal = text.slice(start, end);
    const n = BigInt(literal);
    if (n > MAX_SAFE_BIG || -n > MAX_SAFE_BIG) throw new CanonicalJsonError(`integer literal ${literal} outside ±(2^53−1)`);
  }
  return end;
}
