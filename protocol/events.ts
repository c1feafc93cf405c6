// Naomi primitive: content-addressed event IDs, hub signatures and signed channel heads (spec §7.3, §7.4, §9.3).
import { hash } from "node:crypto";
import { canonicalJson } from "./canonical-json.ts";
import type { SigningKey, VerifyKey } from "./keys.ts";
import { signForm, verifyForm } from "./signing.ts";
import type { ChannelHead, Event } from "./types.ts";

/** The reserved event-type namespace: only the hub sequences these, never from a submission (spec §7.1, EVT-01). */
export const RESERVED_TYPE_PREFIX = "smcp:";

/** True when `type` is in the protocol's reserved `smcp:` namespace (EVT-01, EVT-02, CTRL-19). */
export function isReservedType(type: string): boolean {
  return type.startsWith(RESERVED_TYPE_PREFIX);
}

/** An event before the hub has named and signed it. */
export type UnsignedEvent = Omit<Event, "event_id" | "hub_signature">;

/** `$` + base64url(SHA-256(JCS(event minus event_id and hub_signature))) (spec §7.3). */
export function computeEventId(event: UnsignedEvent | Event): string {
  const { event_id: _id, hub_signature: _sig, ...hashed } = event as Event;
  // One-shot hash of the JCS text as UTF-8 (canonicalJson refuses lone surrogates, so the encoding is exact).
  return "$" + hash("sha256", canonicalJson(hashed), "base64url");
}

/** The hub names and signs a sequenced event (spec §7.4). */
export function finaliseEvent(hubKey: SigningKey, event: UnsignedEvent): Event {
  const event_id = computeEventId(event);
  return { ...event, event_id, hub_signature: signEventId(hubKey, event_id) };
}

/** What the hub signs for an event (spec §7.4): its ID under the event purpose. */
function eventSignatureForm(eventId: string): Record<string, unknown> {
  return { purpose: "smcp.event.v1", event_id: eventId };
}

function signEventId(hubKey: SigningKey, eventId: string): string {
  return signForm(hubKey, eventSignatureForm(eventId));
}

/** A finalised event and the JSON the hub stores and sends it as. */
export interface EventText {
  event: Event;
  json: string;
}

/**
 * finaliseEvent from one canonicalisation, for the hub's sequencing path: the event ID hashes the event's JCS text and
 * the stored JSON extends that text, so the event is neither canonicalised twice nor serialised again. `dataText`,
 * the JCS text of `data` when the caller has it already (the size check made it), is spliced in rather than made again.
 */
export function finaliseEventText(hubKey: SigningKey, unsigned: UnsignedEvent, dataText?: string): EventText {
  const hashed = hashedText(unsigned, dataText);
  const eventId = "$" + hash("sha256", hashed, "base64url");
  const signature = signEventId(hubKey, eventId);
  // Both are base64url (and "$"): nothing to escape. JSON member order does not matter to any reader.
  return {
    event: { ...unsigned, event_id: eventId, hub_signature: signature },
    json: `${hashed.slice(0, -1)},"event_id":"${eventId}","hub_signature":"${signature}"}`,
  };
}

/**
 * JCS of the event minus event_id and hub_signature (spec §7.3). In JCS order "channel" is the first member and
 * "data" the second (no other member name sorts between them), so `data`'s text goes right after the channel's.
 */
function hashedText(unsigned: UnsignedEvent, dataText: string | undefined): string {
  const { data, ...envelope } = unsigned;
  const text = canonicalJson(envelope);
  const head = `{"channel":${JSON.stringify(unsigned.channel)}`;
  if (!text.startsWith(head) || text[head.length] !== ",") return canonicalJson(unsigned); // not an event's shape: the general way
  return `${head},"data":${dataText ?? canonicalJson(data)}${text.slice(head.length)}`;
}

/** Why an event fails verification against its hub's key, or null when it is sound. */
export function eventProblem(hubKey: VerifyKey, event: Event): string | null {
  const idProblem = eventIdProblem(event);
  if (idProblem) return idProblem;
  if (!hubSignatureVerifies(hubKey, event)) return "hub_signature does not verify";
  return prevEventProblem(event);
}

/** Why `event_id` does not recompute from the event's content (spec §7.3 EVT-15), or null when it does. */
export function eventIdProblem(event: Event): string | null {
  let expected: string;
  try {
    expected = computeEventId(event);
  } catch (err) {
    return `event has no canonical form: ${(err as Error).message}`;
  }
  return expected === event.event_id ? null : `event_id does not match its content (expected ${expected})`;
}

/** Whether `hub_signature` verifies over the event's ID with the hub's key (spec §7.4); check the ID first. */
export function hubSignatureVerifies(hubKey: VerifyKey, event: Event): boolean {
  return verifyForm(hubKey, eventSignatureForm(event.event_id), event.hub_signature);
}

/** prev_event is null exactly at seq 1 (spec §7.2). */
export function prevEventProblem(event: Event): string | null {
  return (event.seq === 1) !== (event.prev_event === null) ? "prev_event must be null exactly when seq is 1" : null;
}

function headForm(head: Omit<ChannelHead, "hub_signature">): Record<string, unknown> {
  return { purpose: "smcp.head.v1", channel: head.channel, seq: head.seq, event_id: head.event_id, hub_ts: head.hub_ts };
}

export function signHead(hubKey: SigningKey, head: Omit<ChannelHead, "hub_signature">): ChannelHead {
  return { ...head, hub_signature: signForm(hubKey, headForm(head)) };
}

export function headVerifies(hubKey: VerifyKey, head: ChannelHead): boolean {
  return verifyForm(hubKey, headForm(head), head.hub_signature);
}
