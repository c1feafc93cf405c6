// Judith (spec §18.1.3 JDT-15): the call_id of a call step, derived from the run and the step alone, so that every
// attempt — retries, and the first attempt after a restart — reuses it and Roshumba's idempotency (§10.3) runs the tool once.
import { sha256Base64Url } from "../../protocol/signing.ts";

/** `judith.` + base64url(SHA-256(run_id LF created_ts LF step index LF step id)), within IdempotencyKey. */
export function stepCallId(runId: string, createdTs: number, idx: number, stepId: string): string {
  return `judith.${sha256Base64Url(Buffer.from(`${runId}\n${createdTs}\n${idx}\n${stepId}`))}`;
}
