// Naomi (event bus): what the hub accepts as an event's `data` before sequencing it (spec §7.2 EVT-12, EVT-19; §12.3 CTRL-19).
import { canonicalJson } from "../../protocol/canonical-json.ts";

export interface DataProblem {
  errcode: "SMCP_INVALID" | "SMCP_TOO_LARGE";
  error: string;
}

/** `data` must have a canonical form, and its canonical size must be within `limit` (the hub's max_event_data_bytes). */
export function dataProblem(data: unknown, limit: number): DataProblem | null {
  let size: number;
  try {
    size = Buffer.byteLength(canonicalJson(data));
  } catch (err) {
    return { errcode: "SMCP_INVALID", error: `data has no canonical JSON form: ${(err as Error).message}` };
  }
  if (size > limit) return { errcode: "SMCP_TOO_LARGE", error: `data is ${size} bytes, over the hub's max_event_data_bytes ${limit}` };
  return null;
}
