// Protocol primitive (Roshumba, 1.1 forwarded calls, spec §10.6): the origin-signed envelope, the destination-signed
// result, and the hop checks F1–F4 every receiver applies — one place for the reference, the harness and the fixtures.
import { canonicalBytes } from "./canonical-json.ts";
import { SmcpError } from "./errors.ts";
import { parseComponentUri } from "./identity.ts";
import type { SigningKey, VerifyKey } from "./keys.ts";
import { FORWARD_ENVELOPE_GRACE_MS } from "./limits.ts";
import { newNonce, sha256Base64Url, signForm, verifyForm } from "./signing.ts";
import type { ForwardedCall, ForwardEnvelope, ForwardResult, ToolResult } from "./types.ts";

export const FORWARD_PATH = "/federation/v1/forward";
export const FORWARD_PURPOSE = "smcp.forward.v1";
export const FORWARD_RESULT_PURPOSE = "smcp.forward-result.v1";

export type EnvelopeFields = Omit<ForwardEnvelope, "signature" | "key_id" | "ts" | "nonce" | "params_sha256"> & {
  params: Record<string, unknown>;
  ts?: number;
  nonce?: string;
};

/** base64url SHA-256 of the canonical bytes of a call's arguments; 400 when they have no canonical form (FWD-11). */
export function paramsSha256(params: unknown): string {
  try {
    return sha256Base64Url(canonicalBytes(params));
  } catch (err) {
    throw new SmcpError("SMCP_INVALID", `params have no canonical JSON form: ${(err as Error).message}`, { details: [{ path: "/params", message: (err as Error).message }] });
  }
}

/** The signed form `smcp.forward.v1`: exactly these twelve members (§3.3), built by every verifier itself (JCS-14). */
export function envelopeForm(env: Omit<ForwardEnvelope, "signature">): Record<string, unknown> {
  return {
    purpose: FORWARD_PURPOSE, origin: env.origin, destination: env.destination, call_id: env.call_id, target: env.target,
    tool: env.tool, params_sha256: env.params_sha256, timeout_ms: env.timeout_ms, max_hops: env.max_hops,
    key_id: env.key_id, ts: env.ts, nonce: env.nonce,
  };
}

/** The origin signs a new envelope (FWD-02); `ts`/`nonce` are fixed only by test vectors. */
export function signEnvelope(key: SigningKey, f: EnvelopeFields): ForwardEnvelope {
  const unsigned: Omit<ForwardEnvelope, "signature"> = {
    origin: f.origin, destination: f.destination, call_id: f.call_id, target: f.target, tool: f.tool,
    params_sha256: paramsSha256(f.params), timeout_ms: f.timeout_ms, max_hops: f.max_hops, key_id: key.keyId,
    ts: f.ts ?? Date.now(), nonce: f.nonce ?? newNonce(),
  };
  return { ...unsigned, signature: signForm(key, envelopeForm(unsigned)) };
}

export function verifyEnvelope(key: VerifyKey, env: ForwardEnvelope): boolean {
  return verifyForm(key, envelopeForm(env), env.signature);
}

/** The envelope's identity at the destination (FWD-21): the hash of its canonical bytes, signature included. */
export function envelopeSha256(env: ForwardEnvelope): string {
  return sha256Base64Url(canonicalBytes(env));
}

export function resultForm(r: Omit<ForwardResult, "signature" | "result">, resultSha256: string): Record<string, unknown> {
  return {
    purpose: FORWARD_RESULT_PURPOSE, origin: r.origin, destination: r.destination, call_id: r.call_id, target: r.target,
    tool: r.tool, envelope_sha256: r.envelope_sha256, result_sha256: resultSha256, key_id: r.key_id,
  };
}

/** The destination's answer, signed for the origin (FWD-23). */
export function signForwardResult(key: SigningKey, env: ForwardEnvelope, result: ToolResult): ForwardResult {
  const unsigned = {
    call_id: env.call_id, origin: env.origin, destination: env.destination, target: env.target, tool: env.tool,
    envelope_sha256: envelopeSha256(env), key_id: key.keyId,
  };
  return { ...unsigned, result, signature: signForm(key, resultForm(unsigned, sha256Base64Url(canonicalBytes(result)))) };
}

/** Why the origin must not accept `r` as the answer to `env` (FWD-25), or null when it is authentic. */
export function forwardResultProblem(destinationKey: VerifyKey, env: ForwardEnvelope, r: ForwardResult): string | null {
  if (r.call_id !== env.call_id || r.origin !== env.origin || r.destination !== env.destination) return `answers another call (${r.origin}/${r.call_id} for ${r.destination})`;
  if (r.target !== env.target || r.tool !== env.tool) return `answers another target or tool (${r.target} ${r.tool})`;
  if (r.envelope_sha256 !== envelopeSha256(env)) return "answers another envelope (envelope_sha256 differs)";
  if (r.key_id !== destinationKey.keyId) return `is signed with ${r.key_id}, not ${env.destination}'s key ${destinationKey.keyId}`;
  let resultSha: string;
  try {
    resultSha = sha256Base64Url(canonicalBytes(r.result));
  } catch {
    return "has a result without a canonical JSON form";
  }
  return verifyForm(destinationKey, resultForm(r, resultSha), r.signature) ? null : `signature does not verify under ${env.destination}'s key`;
}

/** Checks F1–F3 of §10.6 on a received hop: the hop list's shape, loops, the hop ceiling. */
export function checkHops(call: ForwardedCall, sender: string, self: string): void {
  const { hops, envelope } = call;
  const hop = { hop: self };
  if (hops[0] !== envelope.origin) throw new SmcpError("SMCP_INVALID", `hops must start with the envelope's origin ${envelope.origin}`, { ...hop, details: [{ path: "/hops/0", message: "not the envelope's origin" }] });
  if (hops[hops.length - 1] !== sender) throw new SmcpError("SMCP_INVALID", `hops must end with the request's origin ${sender}`, { ...hop, details: [{ path: `/hops/${hops.length - 1}`, message: "not the request's origin" }] });
  if (new Set(hops).size !== hops.length) throw new SmcpError("SMCP_INVALID", "hops names a server twice", { ...hop, details: [{ path: "/hops", message: "a server appears twice" }] });
  if (parseComponentUri(envelope.target)?.server !== envelope.destination) {
    throw new SmcpError("SMCP_INVALID", `target ${envelope.target} is not on the envelope's destination ${envelope.destination}`, { ...hop, details: [{ path: "/envelope/target", message: "not on the destination" }] });
  }
  if (hops.includes(self)) throw new SmcpError("SMCP_FORWARD_LOOP", `the call already passed through ${self} (hops ${hops.join(" > ")})`, hop);
  if (hops.length > envelope.max_hops) throw new SmcpError("SMCP_HOP_LIMIT", `${hops.length} hops exceed the envelope's max_hops ${envelope.max_hops}`, hop);
}

/** Check F4 (FWD-09): the envelope is neither from the future beyond W nor older than W + the grace period. */
export function checkEnvelopeTime(env: ForwardEnvelope, now: number, skewMs: number, self: string): void {
  if (env.ts - skewMs > now || now > env.ts + skewMs + FORWARD_ENVELOPE_GRACE_MS) {
    throw new SmcpError("SMCP_BAD_TIMESTAMP", `envelope ts ${env.ts} is outside [now − ${skewMs + FORWARD_ENVELOPE_GRACE_MS} ms, now + ${skewMs} ms]`, { hop: self });
  }
}
