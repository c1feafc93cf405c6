// Conformance harness self-tests: planted bugs in what an instance sends the fake peer (spec §3.1, §7.3): the front
// maps the fake peer to an outbound relay that rewrites the instance's requests and signs them with its key.
import { createHash } from "node:crypto";
import { encodeBase64Url } from "../../../protocol/base64url.ts";
import { signForm } from "../../../protocol/signing.ts";
import type { SigningKey } from "../../../protocol/keys.ts";
import { fault, type Fault } from "./fault-kit.ts";
import { startRelay, type Relay, type Rewrite } from "./outbound-relay.ts";

/** Members sorted by code point (UTF-8 byte order), not by UTF-16 code units as JCS says (RFC 8785 §3.2.3). */
function codePointSorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(codePointSorted);
  if (v === null || typeof v !== "object") return v;
  const byCodePoint = (a: string, b: string): number => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
  return Object.fromEntries(Object.keys(v).sort(byCodePoint).map((k) => [k, codePointSorted((v as Record<string, unknown>)[k])]));
}

/** An event ID over members sorted by code point instead of JCS's UTF-16 order — a classic canonical-form bug. */
function nonJcsEvent(key: SigningKey, ev: Record<string, unknown>): Record<string, unknown> {
  const { event_id: _id, hub_signature: _sig, ...unsigned } = ev;
  const event_id = "$" + encodeBase64Url(createHash("sha256").update(JSON.stringify(codePointSorted(unsigned))).digest());
  return { ...unsigned, event_id, hub_signature: signForm(key, { purpose: "smcp.event.v1", event_id }) };
}

/** A fault that routes what the instance sends the fake peer through a relay applying `rewrite`. */
export function sending(breaks: string, bug: string, rewrite: (key: SigningKey, method: string, path: string, body: any) => Rewrite): Fault {
  return fault(breaks, bug, "put", "*/control/v1/hosts/:name", async (s) => {
    if (!s.path.split("/").pop()!.startsWith("mallory-") || !s.tools.env.instanceKey) return undefined;
    const key = s.tools.env.instanceKey;
    const relay: Relay = await startRelay(String(s.json.base_url), key, (method, path, body) => rewrite(key, method, path, body));
    s.tools.onClose(relay.close);
    return s.tools.forward(s.request, { body: Buffer.from(JSON.stringify({ base_url: relay.url })) });
  });
}

export const SENDER_FAULTS: Fault[] = [
  sending("adv/participant/canonical-json@alice", "sorts members by code point, not UTF-16 code units, when hashing an event", (key, method, path, body) => {
    const evs: any[] = body?.events ?? [];
    if (method !== "PUT" || !path.startsWith("/federation/v1/send/") || !evs.some((e) => e.type === "conformance:jcs")) return undefined;
    return { body: { ...body, events: evs.map((e) => (e.type === "conformance:jcs" ? nonJcsEvent(key, e) : e)) } };
  }),
];
