// Security tests of request authentication (spec §4.4 KEY-17..23, §5.6): the Ed25519 edge cases of
// fixtures/signature-edge-cases.json used as real request signatures and peer keys against a running instance.
import { sign as nodeSign } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FakePeer, OutboundOptions } from "../conformance/fake-peer.ts";
import { ed, FIELD_P, challenge, nobleLenientVerify, numberFromLE, numberToLE32, ORDER_L, secretScalar } from "../fixtures/build/noble.ts";
import { decodeBase64Url, encodeBase64Url } from "../protocol/base64url.ts";
import { canonicalBytes } from "../protocol/canonical-json.ts";
import type { ErrorBody } from "../protocol/errors.ts";
import { finaliseEvent } from "../protocol/events.ts";
import { generateSeed, signingKeyFromSeed, type SigningKey } from "../protocol/keys.ts";
import type { Event, TransactionResult } from "../protocol/types.ts";
import { validate } from "../protocol/schemas.ts";
import type { Instance } from "../reference-impl/instance.ts";
import { control, start, startFakePeer } from "./support/instances.ts";
import { removeDir, tempDir } from "./support/temp-dir.ts";

interface EdgeCase {
  name: string;
  public_key: string;
  public_key_hex: string;
  signature: string;
  expected: "accept" | "reject";
  rejected_by?: "public_key" | "signature_encoding" | "verification";
}

const FIXTURE = JSON.parse(readFileSync(new URL("../fixtures/signature-edge-cases.json", import.meta.url), "utf8")) as { cases: EdgeCase[] };

describe("signature edge cases against a running instance", () => {
  let alice: Instance;
  const dir = tempDir("sigedge");
  const rogues: FakePeer[] = [];

  /** A fake peer mapped into alice, advertising `publicKey` (wire form) instead of its own if given. */
  async function rogue(name: string, publicKey?: string): Promise<FakePeer> {
    const r = await startFakePeer(name, [alice], publicKey ? { advertiseKey: publicKey } : {});
    rogues.push(r);
    return r;
  }

  type Sig = NonNullable<OutboundOptions["sign"]>["sig"];
  const ping = (r: FakePeer, sig?: Sig) => r.send(alice.serverName, { method: "GET", path: "/federation/v1/ping", sign: { sig } });

  function expectRefused(answer: { status: number; body: unknown }, errcode: string, label: string): void {
    expect(answer.status, label).toBe(401);
    expect(validate("Error", answer.body), label).toEqual([]);
    expect((answer.body as ErrorBody).errcode, label).toBe(errcode);
  }

  beforeAll(async () => {
    alice = await start("alice.example", dir);
  });

  afterAll(async () => {
    await Promise.all([alice?.close(), ...rogues.map((r) => r.close())]);
    removeDir(dir);
  });

  it(`SIGN: every fixture case used verbatim as a request signature with its key is refused (spec §4.4, §5.6; ${FIXTURE.cases.length} cases)`, async () => {
    const outcome: Record<string, number> = {};
    for (const [i, c] of FIXTURE.cases.entries()) {
      // Header values cannot carry a newline: that case cannot even be put on the wire.
      if (c.signature.includes("\n")) {
        await expect(ping(await rogue(`f${i}.rogue.example`, c.public_key), c.signature)).rejects.toThrow();
        outcome.unsendable = (outcome.unsendable ?? 0) + 1;
        continue;
      }
      const r = await rogue(`f${i}.rogue.example`, c.public_key);
      // Refused key first; then a malformed signature text; anything else fails verification — including the
      // fixture's valid signatures, which were made over other signed forms (spec §3.3 JCS-13: no cross-protocol reuse).
      const errcode = c.rejected_by === "public_key" ? "SMCP_UNKNOWN_KEY" : c.rejected_by === "signature_encoding" ? "SMCP_UNAUTHORIZED" : "SMCP_BAD_SIGNATURE";
      expectRefused(await ping(r, c.signature), errcode, c.name);
      outcome[errcode] = (outcome[errcode] ?? 0) + 1;
    }
    const byKind = (k: string) => FIXTURE.cases.filter((c) => c.rejected_by === k).length;
    expect(outcome).toEqual({
      SMCP_UNKNOWN_KEY: byKind("public_key"),
      SMCP_UNAUTHORIZED: byKind("signature_encoding") - 1,
      unsendable: 1,
      SMCP_BAD_SIGNATURE: byKind("verification") + FIXTURE.cases.filter((c) => c.expected === "accept").length,
    });
  });

  it("KEY-20: a small-order key cannot be used for the universal forgery R = identity, S = 0 (spec §4.4)", async () => {
    const smallOrder = FIXTURE.cases.filter((c) => c.rejected_by === "public_key");
    const forgery = Buffer.concat([numberToLE32(1n), Buffer.alloc(32)]).toString("base64url");
    for (const [i, c] of smallOrder.entries()) {
      expectRefused(await ping(await rogue(`so${i}.rogue.example`, c.public_key), forgery), "SMCP_UNKNOWN_KEY", c.name);
    }
    expect(smallOrder.length).toBeGreaterThanOrEqual(8);
  });

  /**
   * The fixture's verification cases rebuilt over any message signed by `key`: each is a function of the correct
   * signature and the signed bytes. `lenient` records, for the crafted R cases, whether ZIP-215 verification accepts
   * them — it must, so that the instance's refusal is its strict rule at work, not a crafting mistake.
   */
  function craftedCases(key: SigningKey) {
    const a = secretScalar(key.seed);
    const A = key.publicKey;
    const lenient: boolean[] = [];
    const withS = (sig: Buffer, s: bigint) => Buffer.concat([sig.subarray(0, 32), numberToLE32(s)]);
    const sOf = (sig: Buffer) => numberFromLE(sig.subarray(32));
    const rWith = (rBytes: Uint8Array, s: (k: bigint) => bigint) => (_: Buffer, message: Buffer) => {
      const sig = Buffer.concat([rBytes, numberToLE32(s(challenge(rBytes, A, message)) % ORDER_L)]);
      lenient.push(nobleLenientVerify(sig, message, A));
      return sig;
    };
    const identity = numberToLE32(1n);
    const torsion = ed.Point.fromHex(FIXTURE.cases.find((c) => c.name.startsWith("small-order public key #1"))!.public_key_hex);
    const rScalar = numberFromLE(generateSeed()) % ORDER_L;
    const mixedR = Buffer.from(ed.Point.BASE.multiply(rScalar).add(torsion).toBytes());
    const other = signingKeyFromSeed(generateSeed());
    type Craft = [string, (sig: Buffer, message: Buffer) => Buffer];
    const accepted: Craft[] = [
      ["baseline: a correct signature", (sig) => sig],
      ["small-order R (identity, canonical) with S = k·a", rWith(identity, (k) => k * a)],
    ];
    const refused: Craft[] = [
      ["S + L", (sig) => withS(sig, sOf(sig) + ORDER_L)],
      ["S = L", (sig) => withS(sig, ORDER_L)],
      ["S + 8·L", (sig) => withS(sig, sOf(sig) + 8n * ORDER_L)],
      ["non-canonical R: identity as y = p + 1", rWith(numberToLE32(FIELD_P + 1n), (k) => k * a)],
      ["non-canonical R: identity with the x sign bit set", rWith(Buffer.from(identity).fill(0x80, 31), (k) => k * a)],
      ["mixed-order R = [r]B + T, S = r + k·a (cofactorless only)", rWith(mixedR, (k) => rScalar + k * a)],
      ["wrong key", (_, message) => nodeSign(null, message, other.privateKey)],
      ["bit-flipped signature (lowest bit of R)", (sig) => Buffer.from(sig).fill(sig[0]! ^ 1, 0, 1)],
      ["bit-flipped signature (lowest bit of S)", (sig) => Buffer.from(sig).fill(sig[32]! ^ 1, 32, 33)],
    ];
    return { accepted, refused, lenient };
  }

  it("KEY-18..22: the same edge cases crafted over a real request: only the canonical ones verify (spec §4.4)", async () => {
    const r = await rogue("crafted.rogue.example");
    const { accepted, refused, lenient } = craftedCases(r.key);
    for (const [label, f] of accepted) expect((await ping(r, f)).status, label).toBe(200);
    for (const [label, f] of refused) expectRefused(await ping(r, f), "SMCP_BAD_SIGNATURE", label);
    expect(lenient).toEqual([true, true, true, true]); // small-order R, both non-canonical R encodings, mixed-order R
    // A body changed by one bit after signing (the message side of "bit-flipped message").
    const body = { origin: r.name, channel: "!x:alice.example", inviter: r.name, invitee: "alice.example", origin_ts: Date.now() };
    const bytes = Buffer.from(JSON.stringify(body));
    const flipped = Buffer.from(bytes).fill(bytes[10]! ^ 1, 10, 11);
    const sentFlipped = await r.send(alice.serverName, { method: "POST", path: "/federation/v1/invite", rawBody: flipped, sign: { body: bytes } });
    expectRefused(sentFlipped, "SMCP_BAD_SIGNATURE", "bit-flipped body");
  });

  it("EVT-18, TXN-27: the same edge cases as hub signatures of delivered events: refused per item with SMCP_BAD_EVENT (spec §7.4, §8.5)", async () => {
    const hub = await rogue("hub.rogue.example");
    const channel = "!evil:hub.rogue.example";
    const inviteBody = { origin: hub.name, channel, inviter: hub.name, invitee: alice.serverName, origin_ts: Date.now() };
    const invite = await hub.send(alice.serverName, { method: "POST", path: "/federation/v1/invite", body: inviteBody });
    expect(invite.body).toMatchObject({ accepted: true });
    let txn = 0;
    const deliver = async (event: Event) => {
      const body = { origin: hub.name, origin_ts: Date.now(), events: [event] };
      const r = await hub.send(alice.serverName, { method: "PUT", path: `/federation/v1/send/ev-${++txn}`, body });
      expect(r.status).toBe(200);
      return r.body as TransactionResult;
    };
    const make = (seq: number, prev: string | null, label: string, craft: (sig: Buffer, message: Buffer) => Buffer): Event => {
      const unsigned = seq === 1
        ? { channel, seq, prev_event: null, type: "smcp:channel.create", sender: hub.name, origin_ts: 1, hub_ts: 1, data: { creator: hub.name } }
        : { channel, seq, prev_event: prev, type: "test:sig", sender: hub.name, origin_ts: 1, hub_ts: 1, data: { label } };
      const event = finaliseEvent(hub.key, unsigned);
      const message = canonicalBytes({ purpose: "smcp.event.v1", event_id: event.event_id });
      return { ...event, hub_signature: encodeBase64Url(craft(decodeBase64Url(event.hub_signature, 64)!, message)) };
    };
    const first = make(1, null, "create", (sig) => sig);
    expect(await deliver(first)).toMatchObject({ processed: [first.event_id], rejected: [] });
    const { accepted, refused } = craftedCases(hub.key);
    for (const [label, craft] of refused) {
      const e = make(2, first.event_id, label, craft);
      const result = await deliver(e);
      expect(result.processed, label).toEqual([]);
      expect(result.rejected, label).toEqual([expect.objectContaining({ id: e.event_id, errcode: "SMCP_BAD_EVENT" })]);
    }
    // The canonical cases are accepted, in order: the small-order-R signature at seq 2, the plain one at seq 3.
    const second = make(2, first.event_id, accepted[1]![0], accepted[1]![1]);
    expect(await deliver(second)).toMatchObject({ processed: [second.event_id], rejected: [] });
    const third = make(3, second.event_id, accepted[0]![0], accepted[0]![1]);
    expect(await deliver(third)).toMatchObject({ processed: [third.event_id], rejected: [] });
    const held = await control(alice, "GET", `/control/v1/channels/${encodeURIComponent(channel)}/events`);
    expect((held.body as { events: Event[] }).events.map((e) => e.event_id)).toEqual([first.event_id, second.event_id, third.event_id]);
  });
});
