// Naomi (event bus): one outbound Transaction as JSON text — the stored items spliced in as they are, within the
// destination's byte budget (spec §8.2 TXN-06, §8.6 TXN-33).
import { JsonText } from "../../protocol/http-client.ts";

/** The transaction's members other than its items and heads: names, brackets, origin_ts (origin counted apart). */
export const ENVELOPE_BYTES = 96;

/** An item of a transaction: its JSON text, and its UTF-8 size when already known (measured once per event, not per destination). */
export interface ItemText {
  json: string;
  bytes?: number;
}

/**
 * The longest prefix of the submissions, then of the events, whose JSON fits `budget` bytes (a prefix keeps each
 * channel's events contiguous). One item is always taken, so that an oversized one is refused (413) rather than stuck.
 */
export function withinBytes<S extends ItemText, R extends ItemText>(subs: S[], rows: R[], budget: number): { subs: S[]; rows: R[] } {
  let used = 0;
  const s = subs.slice(0, fitting(subs, budget, 0));
  for (const x of s) used += size(x);
  if (s.length < subs.length) return { subs: s, rows: [] };
  return { subs: s, rows: rows.slice(0, fitting(rows, budget - used, s.length)) };
}

/** How many of `items` fit `budget`, each counted with its separating comma; the first is always taken when none was before. */
function fitting(items: ItemText[], budget: number, takenBefore: number): number {
  let used = 0;
  let n = 0;
  for (const x of items) {
    const bytes = size(x);
    if (takenBefore + n > 0 && used + bytes > budget) break;
    used += bytes;
    n++;
  }
  return n;
}

function size(x: ItemText): number {
  return (x.bytes ?? Buffer.byteLength(x.json)) + 1;
}

/**
 * A Transaction (spec §8.2) as JSON text: the queued events and submissions are spliced in as stored (each was
 * serialised once, when stored), so a batch costs no re-parsing or re-encoding of its items. `headsJson` is the JSON
 * array of the heads, "" for none (the caller measured it for the byte budget already).
 */
export function transactionText(origin: string, originTs: number, events: { json: string }[], subs: { json: string }[], headsJson: string): JsonText {
  let text = `{"origin":${JSON.stringify(origin)},"origin_ts":${originTs}`;
  if (events.length > 0) text += `,"events":[${events.map((e) => e.json).join(",")}]`;
  if (subs.length > 0) text += `,"submissions":[${subs.map((s) => s.json).join(",")}]`;
  if (headsJson !== "") text += `,"heads":${headsJson}`;
  return new JsonText(text + "}");
}
