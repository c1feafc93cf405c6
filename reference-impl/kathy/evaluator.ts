// Kathy (selective config sharing, spec §18.3 KATHY-05..KATHY-08, KATHY-12): what a subscriber does with one `kathy:`
// event, in hub order — the conflict rule (per key the highest version wins; an equal version at a later seq wins;
// a lower one is stale), opt-in patterns, and the audit record of every decision.
import { validate } from "../../protocol/schemas.ts";
import type { Event, KathyAuditRecord, KathyConfigSet, KathyConfigUnset } from "../../protocol/types.ts";
import type { ConfigStore } from "./config-store.ts";
import { matchesAny } from "./patterns.ts";
import { secretKey, secretValue } from "./secret-entries.ts";

export const SET_TYPE = "kathy:config.set";
export const UNSET_TYPE = "kathy:config.unset";

/** Evaluates the channel's events after the subscription's evaluated_seq; the caller runs it in one transaction. */
export function evaluate(store: ConfigStore, channel: string, patterns: readonly string[], events: Event[]): void {
  for (const e of events) {
    if (e.type.startsWith("kathy:")) store.audit(decide(store, channel, patterns, e));
    store.evaluated(channel, e.seq);
  }
}

function decide(store: ConfigStore, channel: string, patterns: readonly string[], e: Event): KathyAuditRecord {
  const base = { channel, seq: e.seq, event_id: e.event_id, sender: e.sender };
  const op: "set" | "unset" | undefined = e.type === SET_TYPE ? "set" : e.type === UNSET_TYPE ? "unset" : undefined;
  if (!op || validate(op === "set" ? "KathyConfigSet" : "KathyConfigUnset", e.data).length > 0 || (op === "set" && !("value" in e.data))) {
    return { ...base, op: op ?? "invalid", outcome: "ignored", reason: "invalid" };
  }
  const data = e.data as unknown as KathyConfigSet | KathyConfigUnset;
  const id = { ...base, op, key: data.key, version: data.version };
  store.sawVersion(channel, data.key, data.version);
  // A publisher should never have sent it (KATHY-09); a subscriber does not apply it either.
  if (secretKey(data.key) || (op === "set" && secretValue((data as KathyConfigSet).value, undefined))) return { ...id, outcome: "ignored", reason: "secret" };
  if (!matchesAny(patterns, data.key)) return { ...id, outcome: "ignored", reason: "not_subscribed" };
  const current = store.entry(channel, data.key);
  // Events arrive in seq order, so an equal version here always has the later seq: it wins the tie.
  if (current && data.version < current.version) return { ...id, outcome: "ignored", reason: "stale_version" };
  store.putEntry({
    channel, key: data.key, value: op === "set" ? JSON.stringify((data as KathyConfigSet).value) : null, version: data.version,
    seq: e.seq, sender: e.sender, deleted: op === "unset" ? 1 : 0,
  });
  return { ...id, outcome: "applied" };
}
