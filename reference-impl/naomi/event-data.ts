// Naomi (event bus): what the hub accepts as an event's `data` before sequencing it (spec §7.2 EVT-12, EVT-19, EVT-20;
// §12.3 CTRL-19, CTRL-34).
import { canonicalJson } from "../../protocol/canonical-json.ts";
import { MAX_EVENT_DATA_DEPTH, tooDeep } from "../../protocol/json-depth.ts";

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
  const checked = checkedData(data, limit);
  return "problem" in checked ? checked.problem : null;
}

/** dataProblem's checks; when they pass, the canonical text of `data` they measured (the hub hashes it into the event ID). */
export function checkedData(data: unknown, limit: number): { text: string } | { problem: DataProblem } {
  const problem = (p: DataProblem) => ({ problem: p });
  const deep = tooDeep(data, MAX_EVENT_DATA_DEPTH);
  if (deep !== null) {
    return problem({ errcode: "SMCP_INVALID", path: deep, error: `data nests deeper than ${MAX_EVENT_DATA_DEPTH} levels at ${deep || "/"}` });
  }
  let text: string;
  try {
    text = canonicalJson(data);
  } catch (err) {
    return problem({ errcode: "SMCP_INVALID", path: "", error: `data has no canonical JSON form: ${(err as Error).message}` });
  }
  const size = Buffer.byteLength(text);
  if (size > limit) return problem({ errcode: "SMCP_TOO_LARGE", path: "", error: `data is ${size} bytes, over the hub's max_event_data_bytes ${limit}` });
  return { text };
}
