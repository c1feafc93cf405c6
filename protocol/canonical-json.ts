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
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      i = scanString(text, i, stack.at(-1));
    } else if (c === 0x7b || c === 0x5b) {
      stack.push({ keys: c === 0x7b ? new Set() : null, expectKey: c === 0x7b });
      i++;
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
      i++;
    } else if (c === 0x2c) {
      const top = stack.at(-1);
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
  // Native searches instead of a loop per character: the first quote ends the string unless backslashes escape it.
  let end = text.indexOf('"', start + 1);
  const escaped = text.slice(start + 1, end).includes("\\");
  if (escaped) while (backslashesBefore(text, end) % 2 === 1) end = text.indexOf('"', end + 1);
  // \uD800–\uDFFF: the only way JSON text decoded strictly from UTF-8 can spell an unpaired surrogate (found loosely).
  const surrogateEscape = escaped && /\\u[dD]/.test(text.slice(start + 1, end));
  const isName = frame?.keys && frame.expectKey;
  // A value is looked at only when it is a member name (duplicates) or may hold an unpaired surrogate; only an escape
  // makes it differ from its text, so JSON.parse of the literal is needed only then.
  if (!isName && !surrogateEscape) return end + 1;
  let value = text.slice(start + 1, end);
  if (escaped) {
    value = JSON.parse(text.slice(start, end + 1)) as string;
    if (LONE_SURROGATE.test(value)) throw new CanonicalJsonError("string contains an unpaired surrogate");
  }
  if (frame?.keys && frame.expectKey) {
    if (frame.keys.has(value)) throw new CanonicalJsonError(`duplicate member name ${JSON.stringify(value)}`);
    frame.keys.add(value);
    frame.expectKey = false;
  }
  return end + 1;
}

/** How many backslashes stand right before position `at`. */
function backslashesBefore(text: string, at: number): number {
  let n = 0;
  while (text.charCodeAt(at - 1 - n) === 0x5c) n++;
  return n;
}

/** Whether a character code can continue a JSON number literal: - + . 0-9 e E. */
function inNumber(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;
}

/** Integer literals of up to 15 digits are below 2^53−1 (16 digits) whatever they are: only longer ones are checked. */
const SURELY_SAFE_DIGITS = 15;

function scanNumber(text: string, start: number): number {
  let end = start;
  let fraction = false;
  for (let c = text.charCodeAt(end); end < text.length && inNumber(c); c = text.charCodeAt(++end)) {
    if (c === 0x2e || c === 0x65 || c === 0x45) fraction = true;
  }
  const digits = end - start - (text.charCodeAt(start) === 0x2d ? 1 : 0);
  if (fraction || digits <= SURELY_SAFE_DIGITS) return end;
  const literal = text.slice(start, end);
  if (!/[.eE]/.test(literal)) {
    const n = BigInt(literal);
    if (n > MAX_SAFE_BIG || -n > MAX_SAFE_BIG) throw new CanonicalJsonError(`integer literal ${literal} outside ±(2^53−1)`);
  }
  return end;
}
