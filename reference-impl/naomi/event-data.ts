// Naomi (event bus): what the hub accepts as an event's `data` before sequencing it (spec §7.2 EVT-12, EVT-19, EVT-20;
// §12.3 CTRL-19, CTRL-34).
import { canonicalJson, MAX_EVENT_DATA_DEPTH } from "../../protocol/canonical-json.ts";

export { MAX_EVENT_DATA_DEPTH };

export interface DataProblem {
  errcode: "SMCP_INVALID" | "SMCP_TOO_LARGE";
  error: string;
  /** JSON Pointer, relative to `data`, of the offending value ("" for `data` itself). */
  path: string;
}

/**
 * `data` must nest at most MAX_EVENT_DATA_DEPTH levels, have a canonical form, and its canonical size must be within
 * `limit` (the hub's max_event_data_bytes). Depth is checked first and without recursion, so that no input can exhaust
 * the stack of the canonicaliser, here or at any participant.
 */
export function dataProblem(data: unknown, limit: number): DataProblem | null {
  const deep = tooDeep(data, MAX_EVENT_DATA_DEPTH);
  if (deep !== null) {
    return { errcode: "SMCP_INVALID", path: deep, error: `data nests deeper than ${MAX_EVENT_DATA_DEPTH} levels at ${deep || "/"}` };
  }
  let size: number;
  try {
    size = Buffer.byteLength(canonicalJson(data));
  } catch (err) {
    return { errcode: "SMCP_INVALID", path: "", error: `data has no canonical JSON form: ${(err as Error).message}` };
  }
  if (size > limit) return { errcode: "SMCP_TOO_LARGE", path: "", error: `data is ${size} bytes, over the hub's max_event_data_bytes ${limit}` };
  return null;
}

interface Frame {
  value: unknown;
  depth: number;
  parent: Frame | null;
  key: string;
}

/**
 * The JSON Pointer of the first object or array nested deeper than `max` (an object or array is at depth 1, its
 * members' containers at 2, ...), or null. Iterative: the work is one visit per value, the stack lives on the heap.
 */
export function tooDeep(value: unknown, max: number): string | null {
  const stack: Frame[] = [{ value, depth: 1, parent: null, key: "" }];
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

function pointer(frame: Frame): string {
  const parts: string[] = [];
  for (let f: Frame | null = frame; f && f.parent; f = f.parent) parts.push(f.key.replace(/~/g, "~0").replace(/\//g, "~1"));
  return parts.length === 0 ? "" : `/${parts.reverse().join("/")}`;
}
