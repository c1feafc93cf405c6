// Naomi (event bus), hub side: a sequenced event's canonical text, built once — its event ID hashes it and its stored
// JSON extends it, so the hub neither canonicalises an event twice nor serialises it again to store it (spec §7.3, §7.4).
import { createHash } from "node:crypto";
import { encodeBase64Url } from "../../protocol/base64url.ts";
import { canonicalJson } from "../../protocol/canonical-json.ts";
import type { UnsignedEvent } from "../../protocol/events.ts";
import type { SigningKey } from "../../protocol/keys.ts";
import { signForm } from "../../protocol/signing.ts";
import type { Event } from "../../protocol/types.ts";

/** A finalised event and the JSON it is stored and sent as. */
export interface EventText {
  event: Event;
  json: string;
}

/**
 * The same event_id and hub_signature as protocol/events.ts finaliseEvent, from one canonicalisation. `dataText`, the
 * JCS text of `data` when the caller has it already (the size check made it), is spliced in rather than made again.
 */
export function finaliseEventText(hubKey: SigningKey, unsigned: UnsignedEvent, dataText?: string): EventText {
  const hashed = hashedText(unsigned, dataText);
  const eventId = "$" + encodeBase64Url(createHash("sha256").update(hashed, "utf8").digest());
  const signature = signForm(hubKey, { purpose: "smcp.event.v1", event_id: eventId });
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
