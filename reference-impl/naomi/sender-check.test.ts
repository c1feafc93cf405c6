// Naomi (event bus), participant side, protocol 1.1: the sender-signature rules and their lookup bound, unit by unit
// (spec §7.5 EVT-28..EVT-31, EVT-33; §9.8 CHAN-33).
import { describe, expect, it } from "vitest";
import { finaliseEvent, type UnsignedEvent } from "../../protocol/events.ts";
import { generateSeed, signingKeyFromSeed, verifyKeyOf } from "../../protocol/keys.ts";
import { signSubmission } from "../../protocol/sender-signature.ts";
import type { Event } from "../../protocol/types.ts";
import { reservedProblem } from "./reserved-types.ts";
import { MAX_SENDERS_PER_BATCH, resolveSenders, senderProblem, type SenderInfo } from "./sender-check.ts";

const hubKey = signingKeyFromSeed(generateSeed());
const bobKey = signingKeyFromSeed(generateSeed());
const CHANNEL = "!c:hub.example";

function event(sender: string, extra: Partial<UnsignedEvent> = {}, seq = 2): Event {
  return finaliseEvent(hubKey, {
    channel: CHANNEL, seq, prev_event: seq === 1 ? null : "$" + "A".repeat(43), type: "x:note", sender, origin_ts: 5, hub_ts: 6,
    data: { n: 1 } as Event["data"], ...extra,
  });
}

function signedBy(key: typeof bobKey, sender = "bob.example"): Event {
  const sub = signSubmission(key, { submission_id: "s-1", channel: CHANNEL, type: "x:note", sender, origin_ts: 5, data: { n: 1 } as Event["data"] });
  return event(sender, { submission_id: sub.submission_id, sender_signature: sub.sender_signature });
}

const bob11 = new Map<string, SenderInfo | null>([["bob.example", { key: verifyKeyOf(bobKey), versions: ["1.0", "1.1"] }]]);
const bob10 = new Map<string, SenderInfo | null>([["bob.example", { key: verifyKeyOf(bobKey), versions: ["1.0"] }]]);

describe("sender-signature rules (spec §7.5)", () => {
  it("EVT-28: a carried sender_signature must verify with the sender's key, whatever the versions", () => {
    expect(senderProblem(signedBy(bobKey), true, bob11)).toBeNull();
    expect(senderProblem(signedBy(hubKey), true, bob11)).toMatch(/does not verify/);
    expect(senderProblem(signedBy(hubKey), false, bob10)).toMatch(/does not verify/);
    const { submission_id: _id, ...noId } = signedBy(bobKey);
    expect(senderProblem(noId as Event, true, bob11)).toMatch(/does not verify/);
  });

  it("EVT-29: an unsigned event is refused only when the hub and the sender both speak 1.1", () => {
    expect(senderProblem(event("bob.example"), true, bob11)).toMatch(/speaks 1\.1/);
    expect(senderProblem(event("bob.example"), false, bob11)).toBeNull();
    expect(senderProblem(event("bob.example"), true, bob10)).toBeNull();
  });

  it("EVT-30: a sender that could not be discovered is vouched for by the hub alone, as in 1.0", () => {
    const unknown = new Map<string, SenderInfo | null>([["bob.example", null]]);
    expect(senderProblem(event("bob.example"), true, unknown)).toBeNull();
    expect(senderProblem(signedBy(hubKey), true, unknown)).toBeNull();
  });

  it("EVT-33: the hub's own events need no sender signature", () => {
    expect(senderProblem(event("hub.example"), true, new Map())).toBeNull();
  });

  it("EVT-31: one batch naming 100 senders makes exactly 64 lookups; the others are treated as undiscoverable", async () => {
    const names: string[] = [];
    const events = Array.from({ length: 100 }, (_, i) => event(`s${i}.example`));
    const senders = await resolveSenders([...events, ...events], async (n) => {
      names.push(n);
      return { key: verifyKeyOf(bobKey), versions: ["1.0", "1.1"] };
    });
    expect([names.length, new Set(names).size, MAX_SENDERS_PER_BATCH]).toEqual([64, 64, 64]);
    // The 64 looked up speak 1.1 and these events are unsigned: refused; the 36 beyond the bound rest on the hub.
    expect(events.map((e) => senderProblem(e, true, senders)).filter((p) => p !== null)).toHaveLength(64);
  });

  it("CHAN-33: a member's own leave names the leaver as initiator, and nobody else", () => {
    const leave = (data: Record<string, unknown>) => event("hub.example", { type: "smcp:member.leave", data: data as Event["data"] });
    expect(reservedProblem(leave({ server: "bob.example", by: "hub.example", initiator: "bob.example" }), "hub.example")).toBeNull();
    expect(reservedProblem(leave({ server: "bob.example", by: "hub.example" }), "hub.example")).toBeNull();
    expect(reservedProblem(leave({ server: "bob.example", by: "hub.example", initiator: "carol.example" }), "hub.example")).toMatch(/initiator/);
  });
});
