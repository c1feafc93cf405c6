// Tests of a Naomi primitive: content-addressed event IDs, hub signatures, prev_event rule and signed heads
// (spec §7.2, §7.3, §7.4, §9.3).
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "./canonical-json.ts";
import { computeEventId, eventProblem, finaliseEvent, headVerifies, signHead, type UnsignedEvent } from "./events.ts";
import { signingKeyFromSeed, verifyKeyOf } from "./keys.ts";
import { signForm } from "./signing.ts";
import type { Event } from "./types.ts";

const hub = signingKeyFromSeed(Buffer.alloc(32, 0xa1));
const rogue = signingKeyFromSeed(Buffer.alloc(32, 0xee));
const hubVerify = verifyKeyOf(hub);

function unsigned(over: Partial<UnsignedEvent> = {}): UnsignedEvent {
  return {
    channel: "!ops:alice.example",
    seq: 1,
    prev_event: null,
    type: "smcp:channel.create",
    sender: "alice.example",
    origin_ts: 1_767_225_600_000,
    hub_ts: 1_767_225_600_001,
    data: { creator: "alice.example" } as UnsignedEvent["data"],
    ...over,
  };
}

describe("event IDs (spec §7.3)", () => {
  it("EVT-14: is $ + base64url(SHA-256(JCS of the event without event_id and hub_signature))", () => {
    const e = unsigned();
    const expected = "$" + createHash("sha256").update(canonicalJson(e), "utf8").digest("base64url");
    expect(computeEventId(e)).toBe(expected);
    expect(expected).toMatch(/^\$[A-Za-z0-9_-]{43}$/);
  });

  it("EVT-14: ignores event_id and hub_signature, so signed and unsigned events have the same ID", () => {
    const event = finaliseEvent(hub, unsigned());
    expect(computeEventId(event)).toBe(event.event_id);
    expect(computeEventId({ ...event, event_id: "$x", hub_signature: "y" })).toBe(event.event_id);
  });

  it("EVT-14: does not depend on key order inside data (JCS)", () => {
    const a = unsigned({ data: { x: 1, y: { b: 2, a: 1 } } as UnsignedEvent["data"] });
    const b = unsigned({ data: { y: { a: 1, b: 2 }, x: 1 } as UnsignedEvent["data"] });
    expect(computeEventId(a)).toBe(computeEventId(b));
  });

  it("EVT-15: changes when any hashed field changes", () => {
    const base = computeEventId(unsigned());
    const changes: Partial<UnsignedEvent>[] = [
      { channel: "!ops2:alice.example" },
      { seq: 2 },
      { prev_event: "$" + "A".repeat(43) },
      { type: "example:note" },
      { sender: "bob.example" },
      { origin_ts: 1 },
      { hub_ts: 2 },
      { data: { creator: "bob.example" } as UnsignedEvent["data"] },
    ];
    const ids = changes.map((c) => computeEventId(unsigned(c)));
    expect(new Set([base, ...ids]).size).toBe(changes.length + 1);
  });
});

describe("hub signature and chain rules (spec §7.2, §7.4)", () => {
  it("EVT-14/EVT-17: a finalised event passes eventProblem with the hub's key", () => {
    expect(eventProblem(hubVerify, finaliseEvent(hub, unsigned()))).toBeNull();
  });

  it("EVT-15: a tampered field is caught as an event_id mismatch", () => {
    const event = finaliseEvent(hub, unsigned());
    expect(eventProblem(hubVerify, { ...event, data: { creator: "rogue.example" } as Event["data"] })).toMatch(/event_id does not match/);
    expect(eventProblem(hubVerify, { ...event, hub_ts: event.hub_ts + 1 })).toMatch(/event_id does not match/);
  });

  it("EVT-18: an event named and signed by another key fails the hub's signature check", () => {
    expect(eventProblem(hubVerify, finaliseEvent(rogue, unsigned()))).toBe("hub_signature does not verify");
  });

  it("EVT-18: a hub signature copied from another event does not verify", () => {
    const first = finaliseEvent(hub, unsigned());
    const second = finaliseEvent(hub, unsigned({ seq: 2, prev_event: first.event_id, type: "example:note" }));
    expect(eventProblem(hubVerify, { ...second, hub_signature: first.hub_signature })).toBe("hub_signature does not verify");
  });

  it("EVT-17/JCS-14: the hub signs JCS({purpose: smcp.event.v1, event_id}); the same ID signed under another purpose does not verify", () => {
    const event = finaliseEvent(hub, unsigned());
    expect(event.hub_signature).toBe(signForm(hub, { purpose: "smcp.event.v1", event_id: event.event_id }));
    const wrongPurpose = signForm(hub, { purpose: "smcp.head.v1", event_id: event.event_id });
    expect(eventProblem(hubVerify, { ...event, hub_signature: wrongPurpose })).toBe("hub_signature does not verify");
  });

  it("EVT-10/EVT-13: prev_event must be null exactly at seq 1 (spec §7.2)", () => {
    expect(eventProblem(hubVerify, finaliseEvent(hub, unsigned({ seq: 1, prev_event: "$" + "A".repeat(43) })))).toMatch(/prev_event/);
    expect(eventProblem(hubVerify, finaliseEvent(hub, unsigned({ seq: 2, prev_event: null })))).toMatch(/prev_event/);
    expect(eventProblem(hubVerify, finaliseEvent(hub, unsigned({ seq: 2, prev_event: "$" + "A".repeat(43) })))).toBeNull();
  });

  it("JCS-08: an event with no canonical form (unsafe integer in data) is a problem, not a crash", () => {
    const event = { ...finaliseEvent(hub, unsigned()), data: { n: 2 ** 60 } as Event["data"] };
    expect(eventProblem(hubVerify, event)).toMatch(/no canonical form/);
  });
});

describe("signed channel heads (spec §9.3)", () => {
  const event = finaliseEvent(hub, unsigned());
  const head = signHead(hub, { channel: "!ops:alice.example", seq: 1, event_id: event.event_id, hub_ts: 1_767_225_700_000 });

  it("DLV-08/DLV-12: a signed head verifies with the hub's key only", () => {
    expect(headVerifies(hubVerify, head)).toBe(true);
    expect(headVerifies(verifyKeyOf(rogue), head)).toBe(false);
  });

  it("DLV-08: each signed field is covered (channel, seq, event_id, hub_ts)", () => {
    for (const change of [{ channel: "!other:alice.example" }, { seq: 2 }, { event_id: "$" + "B".repeat(43) }, { hub_ts: head.hub_ts + 1 }]) {
      expect(headVerifies(hubVerify, { ...head, ...change }), JSON.stringify(change)).toBe(false);
    }
  });

  it("DLV-08: an empty channel's head (seq 0, event_id null) verifies", () => {
    expect(headVerifies(hubVerify, signHead(hub, { channel: "!ops:alice.example", seq: 0, event_id: null, hub_ts: 5 }))).toBe(true);
  });

  it("JCS-14: a head signature is not an event signature and vice versa (purpose separation, spec §3.3)", () => {
    expect(eventProblem(hubVerify, { ...event, hub_signature: head.hub_signature })).toBe("hub_signature does not verify");
    expect(headVerifies(hubVerify, { ...head, hub_signature: event.hub_signature })).toBe(false);
  });
});
