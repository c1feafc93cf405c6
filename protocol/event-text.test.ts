// Tests of the Naomi primitive finaliseEventText (protocol/events.ts), the hub's sequencing path: the event canonicalised
// once gives exactly finaliseEvent's event_id and hub_signature, and its stored JSON is the event (spec §7.3 EVT-14, §7.4, §7.5 EVT-26).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "./canonical-json.ts";
import { eventProblem, finaliseEvent, finaliseEventText, type UnsignedEvent } from "./events.ts";
import { signingKeyFromSeed, verifyKeyOf } from "./keys.ts";

const hub = signingKeyFromSeed(Buffer.alloc(32, 0x5e));

/** JSON values with a canonical form (no unpaired surrogates, safe integers). */
const jsonData = fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })).filter((v) => {
  try {
    canonicalJson(v);
    return true;
  } catch {
    return false;
  }
});

const unsignedEvent = fc.record({
  channel: fc.string({ minLength: 1 }).map((s) => `!${s.replace(/[\ud800-\udfff]/g, "x")}:alice.example`),
  seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  type: fc.constantFrom("chat:message", "bench:tick", "smcp:member.join", "x\u00e9\"\\"),
  sender: fc.constantFrom("alice.example", "bob.example"),
  origin_ts: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  hub_ts: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  data: jsonData,
  proof: fc.boolean(),
}).map(({ proof, ...e }) => ({
  ...e,
  prev_event: e.seq === 1 ? null : "$" + "A".repeat(43),
  ...(proof ? { submission_id: "sub-1", sender_signature: "B".repeat(86) } : {}),
}) as unknown as UnsignedEvent);

describe("the event canonicalised once (spec §7.3, §7.4)", () => {
  it("EVT-14: same event_id and hub_signature as finaliseEvent, with or without the sender's proof (EVT-26), and the stored JSON is that event", () => {
    fc.assert(
      fc.property(unsignedEvent, fc.boolean(), (unsigned, withDataText) => {
        const { event, json } = finaliseEventText(hub, unsigned, withDataText ? canonicalJson(unsigned.data) : undefined);
        const expected = finaliseEvent(hub, unsigned);
        expect(event).toEqual(expected);
        expect(JSON.parse(json)).toEqual(expected);
        expect(eventProblem(verifyKeyOf(hub), JSON.parse(json))).toBeNull();
      }),
      { seed: 716, numRuns: 300 },
    );
  });

  it("EVT-14: the stored JSON is the canonical form followed by event_id and hub_signature", () => {
    const unsigned = {
      channel: "!ops:alice.example", seq: 2, prev_event: "$" + "A".repeat(43), type: "chat:message", sender: "bob.example",
      origin_ts: 5, hub_ts: 6, data: { z: 1, a: [true, null, "é"] },
    } as unknown as UnsignedEvent;
    const { event, json } = finaliseEventText(hub, unsigned);
    expect(json).toBe(
      `${canonicalJson(unsigned).slice(0, -1)},"event_id":"${event.event_id}","hub_signature":"${event.hub_signature}"}`,
    );
  });
});
