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
  assertIJson(value, "");
  const text = (canonicalizeImpl as (v: unknown) => string | undefined)(value);
  if (text === undefined) throw new CanonicalJsonError("value has no JSON form");
  return text;
}

/** UTF-8 bytes of the JCS text: what gets hashed and signed. */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), "utf8");
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

/** Walks JSON text that JSON.parse already accepted, checking what JSON.parse does not. */
function scanIJson(text: string): void {
  const stack: Frame[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      i = scanString(text, i, stack.at(-1));
    } else if (c === "{" || c === "[") {
      stack.push({ keys: c === "{" ? new Set() : null, expectKey: c === "{" });
      i++;
    } else if (c === "}" || c === "]") {
      stack.pop();
      i++;
    } else if (c === ",") {
      const top = stack.at(-1);
      if (top?.keys) top.expectKey = true;
      i++;
    } else if (c === "-" || (c >= "0" && c <= "9")) {
      i = scanNumber(text, i);
    } else {
      i++; // whitespace, ':', and the letters of true/false/null
    }
  }
}

function scanString(text: string, start: number, frame: Frame | undefined): number {
  let end = start + 1;
  while (text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
  const value = JSON.parse(text.slice(start, end + 1)) as string;
  if (LONE_SURROGATE.test(value)) throw new CanonicalJsonError("string contains an unpaired surrogate");
  if (frame?.keys && frame.expectKey) {
    if (frame.keys.has(value)) throw new CanonicalJsonError(`duplicate member name ${JSON.stringify(value)}`);
    frame.keys.add(value);
    frame.expectKey = false;
  }
  return end + 1;
}

function scanNumber(text: string, start: number): number {
  let end = start;
  while (end < text.length && /[-+0-9.eE]/.test(text[end]!)) end++;
  const literal = text.slice(start, end);
  if (!/[.eE]/.test(literal)) {
    const n = BigInt(literal);
    if (n > MAX_SAFE_BIG || -n > MAX_SAFE_BIG) throw new CanonicalJsonError(`integer literal ${literal} outside ±(2^53−1)`);
  }
  return end;
}
