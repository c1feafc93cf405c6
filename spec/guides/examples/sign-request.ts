// Guide example (spec §5 request signing): signs federation requests made by any generated OpenAPI client, as a
// `fetch` wrapper the client is given. Self-contained (node:crypto only) so it can be copied into another project.
import { createHash, createPrivateKey, randomBytes, sign } from "node:crypto";

export interface FederationIdentity {
  /** This instance's server name, the `origin` (spec §2.1). */
  origin: string;
  /** The 32-byte Ed25519 seed of its signing key (RFC 8032 private key). */
  seed: Uint8Array;
  /** Its key ID, `ed25519:` + the first 8 bytes of SHA-256(public key), base64url (spec §4.1). */
  keyId: string;
}

/** What the signature covers (spec §5.3); `ts` and `nonce` are injectable for tests. */
export interface RequestToSign {
  method: string;
  /** The request-target exactly as sent: path and `?query`, percent-encoding untouched. */
  uri: string;
  body: Uint8Array;
  destination: string;
  ts?: number;
  nonce?: string;
}

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");

/** PKCS#8 wrapping of a raw Ed25519 seed, so node:crypto can load it. */
function privateKeyOf(seed: Uint8Array) {
  const prefix = Buffer.from("302e020100300506032b657004220420", "hex");
  return createPrivateKey({ key: Buffer.concat([prefix, Buffer.from(seed)]), format: "der", type: "pkcs8" });
}

/**
 * The exact `X-SMCP-Authorization` value for one request. The signed form has nine members whose values are
 * strings and one integer, so its JCS (RFC 8785) is plain JSON.stringify with the members in sorted order.
 */
export function authorizationHeader(id: FederationIdentity, req: RequestToSign): string {
  const ts = req.ts ?? Date.now();
  const nonce = req.nonce ?? b64url(randomBytes(16));
  const form: Record<string, string | number> = {
    content_sha256: b64url(createHash("sha256").update(req.body).digest()),
    destination: req.destination,
    key_id: id.keyId,
    method: req.method, // exactly as sent: methods are case-sensitive (SIGN-13)
    nonce,
    origin: id.origin,
    purpose: "smcp.request.v1",
    ts,
    uri: req.uri,
  };
  const signed = `{${Object.keys(form).sort().map((k) => `${JSON.stringify(k)}:${JSON.stringify(form[k])}`).join(",")}}`;
  const sig = b64url(sign(null, Buffer.from(signed, "utf8"), privateKeyOf(id.seed)));
  return `SMCP-Ed25519 origin=${id.origin} destination=${req.destination} key_id=${id.keyId} ts=${ts} nonce=${nonce} sig=${sig}`;
}

/**
 * A `fetch` for a generated client (openapi-fetch, @hey-api/client-fetch, orval's fetch mode, …): it signs every
 * request over the bytes that are really sent, and refuses to send any `Authorization` header, so a client set up
 * with the control API's bearer token can never hand it to a peer. `destination` is the peer's server name.
 */
export function signingFetch(id: FederationIdentity, destination: string, inner: typeof fetch = fetch): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    const body = new Uint8Array(await request.clone().arrayBuffer());
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    headers.delete("authorization");
    headers.set("x-smcp-authorization", authorizationHeader(id, { method: request.method, uri: url.pathname + url.search, body, destination }));
    return inner(request.url, { method: request.method, headers, body: body.length ? body : undefined, signal: request.signal });
  };
}
