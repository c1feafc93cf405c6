// Conformance harness, fake peer: crafting request signatures, correct or precisely broken (spec §5.2-§5.6).
import { decodeBase64Url, encodeBase64Url } from "../../protocol/base64url.ts";
import { canonicalBytes } from "../../protocol/canonical-json.ts";
import type { SigningKey } from "../../protocol/keys.ts";
import { formatAuthHeader, newNonce, requestForm, signForm } from "../../protocol/signing.ts";
import type { FakeIdentity } from "./identity.ts";

export interface OutboundOptions {
  method: "GET" | "POST" | "PUT" | "DELETE";
  path: string;
  body?: unknown;
  /** Exact bytes to send (overrides `body`). */
  rawBody?: Buffer;
  /** Default `application/json` when there is a body; null omits the header. */
  contentType?: string | null;
  /** `sign` (default), `none`, or a literal X-SMCP-Authorization value. */
  auth?: "sign" | "none" | { header: string };
  /**
   * Overrides of what gets signed, to build precisely broken signatures. `key` signs and its key ID is named
   * (default: the fake's key under its advertised key ID); `sig` replaces the signature by literal text, or by one
   * derived from the correct signature and the exact signed bytes (to craft malleated signatures).
   */
  sign?: SignOverrides;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export type SignOverrides = Partial<{
  ts: number;
  nonce: string;
  origin: string;
  destination: string;
  key: SigningKey;
  method: string;
  uri: string;
  body: Buffer;
  sig: string | ((correct: Buffer, message: Buffer) => Uint8Array);
}>;

/** The bytes a request carries: `rawBody` verbatim, else `body` as JSON, else none. */
export function bodyBytes(opts: Pick<OutboundOptions, "body" | "rawBody">): Buffer | undefined {
  return opts.rawBody ?? (opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body), "utf8"));
}

/** The X-SMCP-Authorization header `identity` sends to `target` for `opts`, with any of its signed parts overridden. */
export function authHeader(identity: FakeIdentity, target: string, opts: OutboundOptions): string {
  const s = opts.sign ?? {};
  const key = s.key ?? { ...identity.key, keyId: identity.keyId };
  const body = s.body ?? bodyBytes(opts) ?? Buffer.alloc(0);
  const fields = { origin: s.origin ?? identity.name, destination: s.destination ?? target, keyId: key.keyId, ts: s.ts ?? Date.now(), nonce: s.nonce ?? newNonce() };
  const form = requestForm(fields, { method: s.method ?? opts.method, uri: s.uri ?? opts.path, body });
  return formatAuthHeader({ ...fields, sig: signatureFor(key, form, s.sig) });
}

/** The correct signature of `form`, or the `sig` override: literal text, or crafted from the correct one and the signed bytes. */
function signatureFor(key: SigningKey, form: Record<string, unknown>, sig: SignOverrides["sig"]): string {
  if (typeof sig === "string") return sig;
  const correct = signForm(key, form);
  return sig ? encodeBase64Url(sig(decodeBase64Url(correct, 64)!, canonicalBytes(form))) : correct;
}
