// Protocol primitive (all components): how deep JSON may nest (spec §3.1 JCS-18, §7.2 EVT-20), measured without
// recursion, so that no input can exhaust the stack of a parser, validator or canonicaliser.

/** JCS-18: no JSON text or value in SMCP nests arrays and objects deeper than this (a scalar is depth 0, `[]` depth 1). */
export const MAX_JSON_DEPTH = 64;

/**
 * EVT-20: an event's `data` nests at most this deep, so that an event fits in every envelope that carries it
 * (transaction, backfill page, event list: three levels) within MAX_JSON_DEPTH, with room for later envelopes.
 */
export const MAX_EVENT_DATA_DEPTH = 32;

/**
 * Whether JSON text nests at most `max` levels, by a scan of its brackets outside strings, before JSON.parse builds
 * anything. Unbalanced text is left for JSON.parse to refuse.
 */
export function textWithinDepth(text: string, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string, escapes included; an unterminated string ends the scan (JSON.parse refuses it).
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return false;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return true;
}

interface DepthFrame {
  value: unknown;
  depth: number;
  parent: DepthFrame | null;
  key: string;
}

/**
 * The JSON Pointer of the first object or array nested deeper than `max` (an object or array is at depth 1, its
 * members' containers at 2, ...), or null. Iterative: the work is one visit per value, the stack lives on the heap.
 */
export function tooDeep(value: unknown, max: number): string | null {
  const stack: DepthFrame[] = [{ value, depth: 1, parent: null, key: "" }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const v = frame.value;
    if (v === null || typeof v !== "object") continue;
    if (frame.depth > max) return pointer(frame);
    const entries: Array<[string, unknown]> = Array.isArray(v) ? v.map((x, i) => [String(i), x]) : Object.entries(v);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i]!;
      if (child !== null && typeof child === "object") stack.push({ value: child, depth: frame.depth + 1, parent: frame, key });
    }
  }
  return null;
}

function pointer(frame: DepthFrame): string {
  const parts: string[] = [];
  for (let f: DepthFrame | null = frame; f && f.parent; f = f.parent) parts.push(f.key.replace(/~/g, "~0").replace(/\//g, "~1"));
  return parts.length === 0 ? "" : `/${parts.reverse().join("/")}`;
}
