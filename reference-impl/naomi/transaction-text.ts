// Naomi (event bus): one outbound Transaction as JSON text — the stored items spliced in as they are, within the
// destination's byte budget (spec §8.2 TXN-06, §8.6 TXN-33).
import { JsonText } from "../../protocol/http-client.ts";
import type { ChannelHead } from "../../protocol/types.ts";

/** The transaction's members other than its items and heads: names, brackets, origin_ts (origin counted apart). */
export const ENVELOPE_BYTES = 96;

/**
 * The longest prefix of the submissions, then of the events, whose JSON fits `budget` bytes (a prefix keeps each
 * channel's events contiguous). One item is always taken, so that an oversized one is refused (413) rather than stuck.
 */
export function withinBytes<S extends { json: string }, R extends { json: string }>(subs: S[], rows: R[], budget: number): { subs: S[]; rows: R[] } {
  let used = 0;
  let taken = 0;
  const fits = (json: string): boolean => {
    const size = Buffer.byteLength(json) + 1;
    if (taken > 0 && used + size > budget) return false;
    used += size;
    taken++;
    return true;
  };
  const s: S[] = [];
  for (const x of subs) if (fits(x.json)) s.push(x); else return { subs: s, rows: [] };
  const r: R[] = [];
  for (const x of rows) if (fits(x.json)) r.push(x); else break;
  return { subs: s, rows: r };
}

/**
 * A Transaction (spec §8.2) as JSON text: the queued events and submissions are spliced in as stored (each was
 * serialised once, when stored), so a batch costs no re-parsing or re-encoding of its items.
 */
export function transactionText(origin: string, originTs: number, events: { json: string }[], subs: { json: string }[], heads: ChannelHead[]): JsonText {
  let text = `{"origin":${JSON.stringify(origin)},"origin_ts":${originTs}`;
  if (events.length > 0) text += `,"events":[${events.map((e) => e.json).join(",")}]`;
  if (subs.length > 0) text += `,"submissions":[${subs.map((s) => s.json).join(",")}]`;
  if (heads.length > 0) text += `,"heads":${JSON.stringify(heads)}`;
  return new JsonText(text + "}");
}
