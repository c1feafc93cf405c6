// Benchmarks: per-operation costs of signing, verification, canonical JSON and schema validation (issue 6, figure 3).
import * as noble from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import { canonicalBytes } from "../protocol/canonical-json.ts";
import { signingKeyFromSeed, verifyKeyOf } from "../protocol/keys.ts";
import { finaliseEvent } from "../protocol/events.ts";
import { signForm, verifyForm, signRequest, parseAuthHeader, verifyRequestSignature } from "../protocol/signing.ts";
import { validate } from "../protocol/schemas.ts";
import { microbench, type Summary } from "./stats.ts";

noble.hashes.sha512 = sha512;

export function cryptoCosts(): Record<string, Summary> {
  const key = signingKeyFromSeed(Buffer.alloc(32, 7));
  const vk = verifyKeyOf(key);
  const event = finaliseEvent(key, {
    channel: "!bench:alice.example", seq: 2, prev_event: "$" + "A".repeat(43), type: "naomi:task.completed",
    sender: "bob.example", origin_ts: 1_736_352_000_000, hub_ts: 1_736_352_000_001, data: { task_id: 236364, title: "Make bread" },
  });
  const form = { purpose: "smcp.event.v1", event_id: event.event_id };
  const sig = signForm(key, form);
  const msg = canonicalBytes(form);
  const sigBytes = Buffer.from(sig, "base64url");
  const body = Buffer.from(JSON.stringify({ origin: "alice.example", origin_ts: 1, events: [event] }));
  const parts = { method: "PUT", uri: "/federation/v1/send/t1", body };
  const header = signRequest(key, { ...parts, origin: "alice.example", destination: "bob.example" });
  const auth = parseAuthHeader(header)!;
  return {
    "ed25519 sign (node:crypto)": microbench(() => signForm(key, form)),
    "ed25519 verify (node:crypto, strict)": microbench(() => verifyForm(vk, form, sig)),
    "ed25519 sign (@noble/ed25519)": microbench(() => noble.sign(msg, key.seed), 10, 50),
    "ed25519 verify (@noble/ed25519, zip215:false)": microbench(() => noble.verify(sigBytes, msg, key.publicKey, { zip215: false }), 10, 50),
    "request sign (header)": microbench(() => signRequest(key, { ...parts, origin: "alice.example", destination: "bob.example" })),
    "request verify (parse + digest + verify)": microbench(() => verifyRequestSignature(vk, parseAuthHeader(header) ?? auth, parts)),
    "canonical JSON (event)": microbench(() => canonicalBytes(event)),
    "schema validation (Event)": microbench(() => validate("Event", event), 30, 2000),
    "event finalise (id + sign)": microbench(() => finaliseEvent(key, { ...event })),
  };
}
